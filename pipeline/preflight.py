"""Checks of the input data before any component runs, with clear errors."""

from __future__ import annotations

import csv
import fnmatch
import os

from tfx.dsl.io import fileio

from pipeline.config import PipelineConfig
from pipeline.errors import DataError
from pipeline.pipeline import CSV_PATTERN


def csv_files(data_dir: str) -> list[str]:
    if not fileio.exists(data_dir) or not fileio.isdir(data_dir):
        raise DataError(f"data folder not found: {data_dir}")
    names = sorted(n.rstrip("/") for n in fileio.listdir(data_dir))
    files = [os.path.join(data_dir, n) for n in names if fnmatch.fnmatch(n, CSV_PATTERN)]
    if not files:
        raise DataError(f"no {CSV_PATTERN} files in {data_dir}")
    return files


def check_data(config: PipelineConfig, data_dir: str) -> list[str]:
    """Checks headers and row lengths of every CSV file; returns the files.

    Raises:
      DataError: naming the file, the line and the problem (a column the
        config needs is missing, headers differ between files, a row has the
        wrong number of fields, a file is empty).
    """
    files = csv_files(data_dir)
    first_header: list[str] | None = None
    for path in files:
        with fileio.open(path, "r") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise DataError(f"{path} is empty (no header line)")
            if first_header is None:
                first_header = header
                missing = sorted(config.raw_columns() - set(header))
                if missing:
                    raise DataError(
                        f"{path}: column(s) {missing} needed by the config are not in "
                        f"the header; it has {header}"
                    )
            elif header != first_header:
                raise DataError(
                    f"{path}: header differs from {files[0]}'s: {header} vs {first_header}"
                )
            rows = 0
            for row in reader:
                rows += 1
                if len(row) != len(header):
                    raise DataError(
                        f"{path}, line {reader.line_num}: {len(row)} fields, "
                        f"expected {len(header)} as in the header"
                    )
            if rows == 0:
                raise DataError(f"{path} has a header but no rows")
    return files
