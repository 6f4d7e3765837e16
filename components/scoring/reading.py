"""Reading rows for batch scoring: batches of input columns, and rejects.

A CSV file is read by Arrow a block at a time, each column converted at
once; from the first block with a cell or row it cannot read, the rest of
the file is read row by row with Python's csv module, which names each
reject by its file and line. JSON Lines are read row by row.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv
from tfx.dsl.io import fileio

from components.scoring.contract import TEXT, WHOLE, ModelContract, is_json_lines

BATCH_ROWS = 2048
BLOCK_BYTES = 4 << 20  # Arrow's CSV block: about 30k taxi rows
REJECTS = "rejects"  # the tag of rejected rows


@dataclasses.dataclass
class Batch:
    """Rows read and converted: the model's input columns and the kept ones."""

    path: str
    size: int = 0
    columns: dict[str, Any] = dataclasses.field(default_factory=dict)  # name -> values
    kept: list[list[str]] = dataclasses.field(default_factory=list)  # one list per kept column


def _cell(value: Any, kind: str, missing: frozenset[str]) -> tuple[Any, str | None]:
    """(the input value, or None and why it cannot be read)."""
    if value is None or (isinstance(value, str) and value in missing):
        return ("" if kind == TEXT else math.nan), None
    if kind == TEXT:
        return str(value), None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"{value!r} is not a number"
    if kind == WHOLE and not (math.isnan(number) or number.is_integer()):
        return None, f"{value!r} is not a whole number"
    return number, None


def _text_file(path: str):
    """A local file through Python's own reader (TF's file layer costs about
    4 us a line), anything else (gs://, s3://) through tfx's fileio."""
    if "://" in path:
        return fileio.open(path, "r")
    return open(path, newline="", encoding="utf-8")  # noqa: SIM115 - closed by the caller


def _records(path: str, skip: int = 0) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line, {column: cell}, or None and why) of every row of one file
    after the first `skip` (a CSV file's blank lines are not rows)."""
    with _text_file(path) as f:
        if is_json_lines(path):
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except ValueError as error:
                    yield line, None, f"not JSON: {error}"
                    continue
                if not isinstance(record, dict):
                    yield line, None, "not a JSON object of columns"
                    continue
                yield line, record, None
            return
        reader = csv.reader(f)
        header = next(reader)
        header[0] = header[0].removeprefix("\ufeff")
        line = reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if row and skip > 0:
                skip -= 1
                continue
            if not row:
                continue  # a blank line
            if len(row) != len(header):
                yield start, None, f"{len(row)} fields, expected {len(header)} as in the header"
                continue
            yield start, dict(zip(header, row, strict=True)), None


class _Unreadable(Exception):
    """A block of a CSV file has a cell (or row) the fast path cannot read."""

    def __init__(self, rows_done: int):
        super().__init__(rows_done)
        self.rows_done = rows_done


def read_batches(
    path: str, contract: ModelContract, keep: list[str], batch_rows: int = BATCH_ROWS
) -> Iterator[Batch | beam.pvalue.TaggedOutput]:
    """Batches of readable rows, and a tagged reject for every other row.

    A CSV file is read by Arrow a block at a time, each column converted at
    once; from the first block with a cell or row it cannot read, the rest
    of the file is read row by row with Python's csv module, which names
    each reject by its line.
    """
    missing = frozenset(["", *contract.missing_values])
    skip = 0
    if not is_json_lines(path):
        try:
            yield from _arrow_batches(path, contract, keep, missing, batch_rows)
            return
        except _Unreadable as unreadable:
            skip = unreadable.rows_done
    pending: list[tuple[int, dict]] = []
    for line, record, problem in _records(path, skip):
        if problem is not None:
            yield beam.pvalue.TaggedOutput(REJECTS, _reject(path, line, problem, record))
            continue
        pending.append((line, record))
        if len(pending) >= batch_rows:
            yield from _convert(path, pending, contract, keep, missing)
            pending = []
    if pending:
        yield from _convert(path, pending, contract, keep, missing)


def _arrow_column(values: pa.Array, kind: str, required: bool, missing: pa.Array):
    """One input column of a block at once (Arrow strings), or None when a
    cell needs a closer look."""
    absent = pc.fill_null(pc.is_in(values, value_set=missing), True)
    if kind == TEXT:
        if required and pc.any(absent).as_py():
            return None
        return pc.if_else(absent, "", values).to_numpy(zero_copy_only=False)
    try:
        numbers = pc.cast(pc.if_else(absent, None, values), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return _checked(pc.fill_null(numbers, math.nan).to_numpy(zero_copy_only=False), kind, required)


def _checked(values: np.ndarray, kind: str, required: bool) -> np.ndarray | None:
    """A number column, or None when a required value is missing or a whole
    number is not whole."""
    absent = np.isnan(values)
    if required and absent.any():
        return None
    if kind == WHOLE and not (absent | (values == np.round(values))).all():
        return None
    return values


def _arrow_batches(
    path: str,
    contract: ModelContract,
    keep: list[str],
    missing: frozenset[str],
    batch_rows: int,
) -> Iterator[Batch]:
    """The file's rows by Arrow blocks; raises _Unreadable at the first block
    it cannot read whole (the batches before it are already yielded)."""
    with _binary_file(path) as f:
        names = next(csv.reader([f.readline().decode("utf-8-sig").rstrip("\r\n")]))
        f.seek(0)
        wanted = sorted(set(contract.inputs) | set(keep))
        read = pa_csv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES)
        convert = pa_csv.ConvertOptions(
            column_types=dict.fromkeys(wanted, pa.string()),
            include_columns=wanted,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        parse = pa_csv.ParseOptions(newlines_in_values=True)
        tokens = pa.array(sorted(missing), pa.string())
        done = 0
        try:
            reader = pa_csv.open_csv(
                f, read_options=read, parse_options=parse, convert_options=convert
            )
            for block in reader:
                for start in range(0, block.num_rows, batch_rows):
                    part = block.slice(start, batch_rows)
                    columns = {}
                    for name, kind in contract.inputs.items():
                        values = part.column(name)
                        converted = _arrow_column(values, kind, name in contract.required, tokens)
                        if converted is None:
                            raise _Unreadable(done)
                        columns[name] = converted
                    kept = [part.column(k).to_pylist() for k in keep]
                    yield Batch(path, size=part.num_rows, columns=columns, kept=kept)
                    done += part.num_rows
        except pa.ArrowInvalid:
            raise _Unreadable(done) from None


def _binary_file(path: str):
    if "://" in path:
        return fileio.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115 - closed by the caller


def _column(cells: list, kind: str, required: bool, missing: frozenset[str]):
    """One input column of a batch at once, or None when a cell needs a closer look."""
    if kind == TEXT:
        values = ["" if c is None or c in missing else str(c) for c in cells]
        return None if required and "" in values else values
    try:
        values = np.array(
            [math.nan if c is None or c in missing else c for c in cells], dtype=np.float64
        )
    except (TypeError, ValueError):
        return None
    return _checked(values, kind, required)


def _convert(
    path: str,
    pending: list[tuple[int, dict]],
    contract: ModelContract,
    keep: list[str],
    missing: frozenset[str],
) -> Iterator[Batch | beam.pvalue.TaggedOutput]:
    """The rows as one batch, column by column; row by row (to name the
    rejects) only when some cell of the batch cannot be read."""
    columns = {}
    for name, kind in contract.inputs.items():
        cells = [record.get(name) for _, record in pending]
        values = _column(cells, kind, name in contract.required, missing)
        if values is None:
            yield from _row_by_row(path, pending, contract, keep, missing)
            return
        columns[name] = values
    yield Batch(
        path,
        size=len(pending),
        columns=columns,
        kept=[[_text(record.get(k)) for _, record in pending] for k in keep],
    )


def _row_by_row(
    path: str,
    pending: list[tuple[int, dict]],
    contract: ModelContract,
    keep: list[str],
    missing: frozenset[str],
) -> Iterator[Batch | beam.pvalue.TaggedOutput]:
    batch = Batch(path, columns={name: [] for name in contract.inputs}, kept=[[] for _ in keep])
    for line, record in pending:
        values, problem = {}, None
        for name, kind in contract.inputs.items():
            value, why = _cell(record.get(name), kind, missing)
            if why is None and name in contract.required and (value == "" or _is_nan(value)):
                why = "missing, and the model requires it"
            if why is not None:
                problem = f"column {name!r}: {why}"
                break
            values[name] = value
        if problem is not None:
            yield beam.pvalue.TaggedOutput(REJECTS, _reject(path, line, problem, record))
            continue
        batch.size += 1
        for name, value in values.items():
            batch.columns[name].append(value)
        for column, k in zip(batch.kept, keep, strict=True):
            column.append(_text(record.get(k)))
    if batch.size:
        yield batch


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


def _reject(path: str, line: int, reason: str, record: dict | None) -> str:
    return json.dumps({"file": path, "line": line, "reason": reason, "row": record})
