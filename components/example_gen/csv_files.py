"""One CSV file to typed columns and serialized tf.Examples, a block at a time.

No Beam here: executor.py runs these functions over a split's files. Pass 1
(`file_column_types`, `merge_column_types`) finds each column's type; pass 2
(`encode_blocks`) reads the rows with those types and encodes each block with
tfx_bsl's RecordBatch-to-tf.Example encoder.

The typing matches TFX's CsvExampleGen: a column is INT when every non-empty
cell is an int64, else FLOAT when every one is a number, else STRING; an
empty cell is a feature with an empty value list, and a column with no value
at all is a feature with no kind. Two edge cases differ: cells like "1_000"
or " 7", which Python's int() reads and Arrow does not, make a STRING column
here; integers beyond int64 make a FLOAT column here and a STRING one in TFX.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv
from tfx.dsl.io import fileio
from tfx_bsl.coders import example_coder

# Types from narrowest to widest; a column takes the widest any block needs.
UNKNOWN, INT, FLOAT, STRING = "unknown", "int", "float", "string"
_ORDER = (UNKNOWN, INT, FLOAT, STRING)
# How a column is read, and how its values are written (tf.Example floats are
# float32).
_READ = {INT: pa.int64(), FLOAT: pa.float64(), STRING: pa.binary(), UNKNOWN: pa.string()}
_ARROW = {INT: pa.int64(), FLOAT: pa.float32(), STRING: pa.binary(), UNKNOWN: pa.binary()}
BLOCK_BYTES = 8 << 20
_ENCODER = example_coder.RecordBatchToExamplesEncoder()


class CsvFormatError(ValueError):
    """A CSV file this executor cannot read, named with the reason."""


def header(path: str) -> list[str]:
    """The column names on the file's first line (a UTF-8 byte-order mark is dropped)."""
    with fileio.open(path, "rb") as f:
        line = f.readline().decode("utf-8-sig").rstrip("\r\n")
    names = next(csv.reader([line]), [])
    if not line or not all(names):
        raise CsvFormatError(f"{path}: the first line must name every column, got {line!r}")
    if len(set(names)) != len(names):
        raise CsvFormatError(f"{path}: the header names a column twice: {line!r}")
    return names


def _blocks(
    path: str,
    names: list[str],
    types: dict[str, pa.DataType],
    missing: tuple[str, ...] = (),
) -> Iterator[pa.RecordBatch]:
    """The file's rows after the header, a block at a time; '' and the
    `missing` tokens are null."""
    read = pa_csv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES)
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    convert = pa_csv.ConvertOptions(
        column_types=types,
        null_values=["", *missing],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    with contextlib.ExitStack() as stack:
        try:
            reader = pa_csv.open_csv(
                arrow_source(path, stack),
                read_options=read,
                parse_options=parse,
                convert_options=convert,
            )
            yield from reader
        except pa.ArrowInvalid as error:
            raise CsvFormatError(f"{path}: {error}") from error


def arrow_source(path: str, stack: contextlib.ExitStack) -> Any:
    """What Arrow reads `path` from: a local file by itself, others (gs://,
    s3://) through TFX's filesystem layer, closed with `stack`."""
    if "://" in path:
        return pa.PythonFile(stack.enter_context(fileio.open(path, "rb")), mode="r")
    return path


def _narrowest(values: pa.Array) -> str:
    """The narrowest type that reads every non-null value of a string array."""
    values = values.drop_null()
    if len(values) == 0:
        return UNKNOWN
    for kind, arrow in ((INT, pa.int64()), (FLOAT, pa.float64())):
        try:
            pc.cast(values, arrow)
            return kind
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return STRING


def file_column_types(path: str, missing: tuple[str, ...] = ()) -> dict[str, str]:
    """Pass 1: each column's type over one file (`missing` tokens are null)."""
    names = header(path)
    result = dict.fromkeys(names, UNKNOWN)
    as_text = dict.fromkeys(names, pa.string())
    for block in _blocks(path, names, as_text, missing):
        for name, column in zip(names, block.columns, strict=True):
            if result[name] != STRING:
                result[name] = max(result[name], _narrowest(column), key=_ORDER.index)
    return result


def merge_column_types(
    per_file: list[dict[str, str]], float_columns: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The split's column types; an INT column in `float_columns` is FLOAT."""
    result: dict[str, str] = {}
    for types in per_file:
        for name, kind in types.items():
            result[name] = max(result.get(name, UNKNOWN), kind, key=_ORDER.index)
    for name in float_columns & set(result):
        if result[name] == INT:
            result[name] = FLOAT
    return result


def _as_lists(column: pa.Array, kind: str) -> pa.Array:
    """One list per row: [] for an empty cell, null (no kind) for UNKNOWN."""
    arrow = _ARROW[kind]
    if kind == UNKNOWN:
        return pa.nulls(len(column), pa.list_(arrow))
    column = column.cast(arrow)
    counts = pc.cumulative_sum(pc.cast(pc.is_valid(column), pa.int32()))
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), counts])
    return pa.ListArray.from_arrays(offsets, column.drop_null())


def _row_keys(block: pa.RecordBatch) -> list[bytes]:
    """Each row's cells joined: a key that depends on the row's content only.

    The encoder's bytes cannot be the split key, as TFX's are: it writes the
    features in hash-map order, which changes from one process to the next.
    """
    cells = [pc.cast(column, pa.string()) for column in block.columns]
    joined = pc.binary_join_element_wise(
        *cells, "\x1f", null_handling="replace", null_replacement=""
    )
    return joined.cast(pa.binary()).to_pylist()


def encode_blocks(
    path: str, types: dict[str, str], missing: tuple[str, ...] = ()
) -> Iterator[tuple[list[bytes], list[bytes]]]:
    """Pass 2: (row keys, serialized tf.Examples) of the file's rows, one
    pair of lists per block; `missing` tokens are empty cells."""
    names = header(path)
    if set(names) != set(types):
        raise CsvFormatError(f"{path}: columns {names} differ from the split's {sorted(types)}")
    read_types = {n: _READ[types[n]] for n in names}
    for block in _blocks(path, names, read_types, missing):
        lists = [
            _as_lists(column, types[n]) for n, column in zip(names, block.columns, strict=True)
        ]
        yield _row_keys(block), _ENCODER.encode(pa.RecordBatch.from_arrays(lists, names))


def encode_file(
    path: str, types: dict[str, str], missing: tuple[str, ...] = ()
) -> Iterator[tuple[bytes, bytes]]:
    """`encode_blocks`, a row at a time: (row key, serialized tf.Example)."""
    for keys, examples in encode_blocks(path, types, missing):
        yield from zip(keys, examples, strict=True)
