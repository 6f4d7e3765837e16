"""The preflight's fast check: the cell rules on Arrow blocks of a CSV file."""

from __future__ import annotations

import contextlib

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv

from components.example_gen.csv_files import arrow_source
from pipeline.cell_rules import FLOAT32_MAX, _Columns, _Rule
from pipeline.errors import DataError

ARROW_BLOCK_BYTES = 1 << 23


class _Defer(Exception):
    """Something the fast check does not vouch for: the exact scan decides."""


def _fast_numbers(column: pa.Array, missing: pa.Array, rule: _Rule) -> None:
    """A numeric rule's checks on a whole column of an Arrow block.

    Arrow reads fewer texts as numbers than Python's float() (no spaces, no
    underscores): a cell it cannot read defers to the exact scan.
    """
    cells = pc.filter(column, pc.invert(pc.is_in(column, value_set=missing)))
    if len(cells) == 0:
        return
    try:
        numbers = pc.cast(cells, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _Defer() from None
    fine = None
    if rule.finite_label:
        fine = pc.and_(pc.is_finite(numbers), pc.less_equal(pc.abs(numbers), FLOAT32_MAX))
    elif rule.binary:
        fine = pc.is_in(numbers, value_set=pa.array([0.0, 1.0]))
    elif rule.classes:
        fine = pc.and_(
            pc.and_(pc.is_finite(numbers), pc.equal(numbers, pc.floor(numbers))),
            pc.and_(pc.greater_equal(numbers, 0), pc.less(numbers, rule.classes)),
        )
    if fine is not None and not pc.all(fine).as_py():
        raise _Defer()


def _fast_rows(path: str, expected: list[str], columns: _Columns) -> int:
    """The checks of `_check_file` on the distinct cells of Arrow blocks.

    Vouches only for a file with nothing wrong in it (the rows as the
    pipeline's own ExampleGen parses them, with Arrow); on anything it
    cannot vouch for it raises _Defer, and `check_data` scans every file
    with the csv module, whose errors name the line.
    """
    options = {
        "read_options": arrow_csv.ReadOptions(block_size=ARROW_BLOCK_BYTES),
        "parse_options": arrow_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        "convert_options": arrow_csv.ConvertOptions(
            column_types={name: pa.string() for name in expected},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }
    missing = pa.array(sorted(columns.missing), pa.string())
    rows = 0
    try:
        with contextlib.ExitStack() as stack:
            reader = arrow_csv.open_csv(arrow_source(path, stack), **options)
            if reader.schema.names != expected:
                raise _Defer()
            for block in reader:
                rows += block.num_rows
                # Arrow reads an empty line as a row of empty cells; the csv
                # module as a row of no fields, which the exact scan refuses.
                blank = pc.equal(block.column(0), "")
                for column in block.columns[1:]:
                    blank = pc.and_(blank, pc.equal(column, ""))
                if pc.any(blank).as_py():
                    raise _Defer()
                for position in columns.filled.keys() - columns.seen:
                    if not pc.all(pc.is_in(block.column(position), value_set=missing)).as_py():
                        columns.seen.add(position)
                for position, rule in columns.rules.items():
                    if rule.numeric:
                        _fast_numbers(block.column(position), missing, rule)
                        continue
                    good = columns.good[position]
                    for cell in pc.unique(block.column(position)).to_pylist():
                        if cell in columns.missing or cell in good:
                            continue
                        columns._check(path, 0, expected[position], cell, rule)
                        if len(good) < 10_000:
                            good.add(cell)
    except (pa.ArrowException, DataError, UnicodeDecodeError, ValueError):
        raise _Defer() from None
    if rows == 0:
        raise _Defer()
    return rows
