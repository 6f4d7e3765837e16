"""Checks of the input data before any component runs, with clear errors."""

from __future__ import annotations

import csv
import fnmatch
import math
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


FLOAT32_MAX = 3.4028234663852886e38


def _bad_byte(path: str) -> DataError:
    """Names the first line and byte of `path` that are not UTF-8."""
    with fileio.open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                byte = line[error.start]
                return DataError(
                    f"{path}, line {number}: byte 0x{byte:02x} at column {error.start + 1} is "
                    "not UTF-8; save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                )
    return DataError(f"{path} is not UTF-8; save it as UTF-8")


class _Columns:
    """Per-column checks of the cells: labels in range, columns not all empty."""

    def __init__(self, config: PipelineConfig, header: list[str]):
        derived = {d.name for d in config.derived}
        # Raw label columns: no task takes a non-finite label.
        self.labels = {h.label: h.name for h in config.heads if h.label not in derived}
        wanted = {h.label: f"label of head {h.name!r}" for h in config.heads}
        wanted.update({f.name: f"feature {f.name!r}" for f in config.features})
        self.filled = {
            header.index(c): what for c, what in wanted.items() if c in header and c not in derived
        }
        self.index = {c: header.index(c) for c in self.labels}
        self.seen: set[int] = set()

    def row(self, path: str, line: int, row: list[str]) -> None:
        for position in self.filled:
            if row[position] != "":
                self.seen.add(position)
        for column, position in self.index.items():
            cell = row[position]
            if cell == "":
                continue
            try:
                value = float(cell)
            except ValueError:
                continue  # string labels (classes, positive_class) are the task's
            if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
                raise DataError(
                    f"{path}, line {line}, column {column!r}: label {cell!r} of head "
                    f"{self.labels[column]!r} is not a finite number (float32 holds "
                    f"up to 3.4e38); fix the cell or leave it empty "
                    "(with label_may_be_missing: true the row still trains the other heads)"
                )

    def never_filled(self, header: list[str], files: list[str]) -> None:
        for position, what in sorted(self.filled.items()):
            if position not in self.seen:
                raise DataError(
                    f"column {header[position]!r} ({what}) has no value in any row of "
                    f"{len(files)} file(s) ({files[0]}, ...): fill it, or take it out of the config"
                )


def _read_header(reader) -> list[str] | None:
    """The first row; a UTF-8 byte-order mark before it is read, not kept."""
    header = next(reader, None)
    if header:
        header[0] = header[0].removeprefix("\ufeff")
    return header


def _header(config: PipelineConfig, path: str) -> list[str]:
    with fileio.open(path, "r") as f:
        header = _read_header(csv.reader(f))
    if not header:
        raise DataError(f"{path} is empty (no header line)")
    missing = sorted(config.raw_columns() - set(header))
    if missing:
        raise DataError(
            f"{path}: column(s) {missing} needed by the config are not in "
            f"the header; it has {header}"
        )
    derived = {d.name for d in config.derived}
    for slicing in config.evaluation.slices:
        absent = [c for c in slicing if c not in header]
        if absent:
            hint = (
                " (a derived column is not in the examples: slice by its inputs)"
                if set(absent) & derived
                else ""
            )
            raise DataError(
                f"{path}: evaluation.slices {slicing} names column(s) {absent} that are not "
                f"in the header{hint}; it has {header}"
            )
    return header


def _check_file(path: str, expected: list[str], first: str, columns: _Columns) -> None:
    with fileio.open(path, "r") as f:
        reader = csv.reader(f)
        header = _read_header(reader)
        if not header:
            raise DataError(f"{path} is empty (no header line)")
        if header != expected:
            raise DataError(f"{path}: header differs from {first}'s: {header} vs {expected}")
        rows = 0
        for row in reader:
            rows += 1
            if len(row) != len(header):
                raise DataError(
                    f"{path}, line {reader.line_num}: {len(row)} fields, "
                    f"expected {len(header)} as in the header"
                )
            columns.row(path, reader.line_num, row)
        if rows == 0:
            raise DataError(f"{path} has a header but no rows")


def check_data(config: PipelineConfig, data_dir: str) -> list[str]:
    """Checks headers, encoding, row lengths and label cells of every CSV file.

    Raises:
      DataError: naming the file, the line and the problem (a column the
        config needs is missing, headers differ between files, a row has the
        wrong number of fields, a slicing's column is missing, a byte is
        not UTF-8, a regression label is
        not a finite number, a column the config reads is empty throughout,
        a file is empty).
    """
    files = csv_files(data_dir)
    path = files[0]
    try:
        header = _header(config, path)
        columns = _Columns(config, header)
        for path in files:
            _check_file(path, header, files[0], columns)
    except UnicodeDecodeError:
        raise _bad_byte(path) from None
    columns.never_filled(header, files)
    return files
