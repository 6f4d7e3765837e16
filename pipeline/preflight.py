"""Checks of the input data before any component runs, with clear errors."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fnmatch
import math
import os

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from tfx.dsl.io import fileio

from components.example_gen.csv_files import arrow_source
from pipeline.config import PipelineConfig
from pipeline.errors import DataError
from pipeline.pipeline import CSV_PATTERN
from trainer_module.spec import MIN_VALIDATION_ROWS


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


# Cell values that people and tools write for "no value": a non-numeric
# cell that is one of these gets the config line that reads it as missing.
LOOKS_MISSING = frozenset(
    {"na", "n/a", "nan", "null", "none", "nil", "?", "-", "--", ".", "missing", "#n/a", "unknown"}
)


def _missing_hint(cell: str) -> str:
    if cell.strip().lower() in LOOKS_MISSING:
        return f"; if it means a missing value, add to the config: missing_values: [{cell!r}]"
    return ""


@dataclasses.dataclass
class _Rule:
    """What one column's non-missing cells must be."""

    what: str  # "feature 'trip_miles' (numeric)"
    numeric: bool = False  # a number
    finite_label: str | None = None  # a finite number: the head whose label it is
    allowed: tuple[str, ...] | None = None  # one of these texts (multiclass classes)
    classes: int | None = None  # an integer 0..classes-1
    binary: str | None = None  # 0 or 1 (no positive_class): the head
    two_values: str | None = None  # at most two distinct values: the head
    values: dict[str, int] = dataclasses.field(default_factory=dict)  # two_values: first lines


def _rules(config: PipelineConfig, header: list[str]) -> dict[int, _Rule]:
    """The cell rules of the raw columns the config reads, by position."""
    derived = {d.name for d in config.derived}
    rules: dict[str, _Rule] = {}
    for feature in config.features:
        if feature.name not in derived and feature.type in ("numeric", "bucketized"):
            rules[feature.name] = _Rule(f"feature {feature.name!r} ({feature.type})", numeric=True)
    for head in config.heads:
        if head.label in derived:
            continue
        what = f"the label of head {head.name!r} ({head.task})"
        if head.task == "regression":
            rules[head.label] = _Rule(what, numeric=True, finite_label=head.name)
        elif head.task == "binary" and head.positive_class is None:
            rules[head.label] = _Rule(what, numeric=True, binary=head.name)
        elif head.task == "binary":
            rules[head.label] = _Rule(what, two_values=head.name)
        elif head.classes is not None:
            rules[head.label] = _Rule(what, allowed=tuple(head.classes))
        else:
            rules[head.label] = _Rule(what, numeric=True, classes=head.num_classes)
    return {header.index(c): rule for c, rule in rules.items() if c in header}


class _Columns:
    """Per-column checks of the cells: numbers where the config reads
    numbers, labels the head can take, columns not all empty. A cell holding
    one of the config's missing_values tokens is an empty cell."""

    def __init__(self, config: PipelineConfig, header: list[str]):
        derived = {d.name for d in config.derived}
        self.header = header
        self.missing = frozenset(["", *config.missing_values])
        wanted = {h.label: f"label of head {h.name!r}" for h in config.heads}
        wanted.update({f.name: f"feature {f.name!r}" for f in config.features})
        self.filled = {
            header.index(c): what for c, what in wanted.items() if c in header and c not in derived
        }
        self.rules = _rules(config, header)
        self.good: dict[int, set[str]] = {position: set() for position in self.rules}
        self.seen: set[int] = set()

    def row(self, path: str, line: int, row: list[str]) -> None:
        for position in self.filled:
            if row[position] not in self.missing:
                self.seen.add(position)
        for position, rule in self.rules.items():
            cell = row[position]
            if cell in self.missing or cell in self.good[position]:
                continue
            self._check(path, line, self.header[position], cell, rule)
            if len(self.good[position]) < 10_000:  # values repeat; each is checked once
                self.good[position].add(cell)

    def _check(self, path: str, line: int, column: str, cell: str, rule: _Rule) -> None:
        where = f"{path}, line {line}, column {column!r}"
        if rule.allowed is not None and cell not in rule.allowed:
            raise DataError(
                f"{where}: {cell!r} is not one of the classes {list(rule.allowed)} of "
                f"{rule.what}; add it to classes, fix the cell, or leave it empty"
                + _missing_hint(cell)
            )
        if rule.two_values is not None:
            rule.values.setdefault(cell, line)
            if len(rule.values) > 2:
                first, second = (v for v in rule.values if v != cell)
                raise DataError(
                    f"{where}: {cell!r} is a third value of {rule.what}, beside {first!r} "
                    f"(line {rule.values[first]}) and {second!r} (line {rule.values[second]}); "
                    "a binary label takes two: fix the data, or make the head multiclass"
                    + _missing_hint(cell)
                )
        if not rule.numeric:
            return
        try:
            value = float(cell)
        except ValueError:
            raise DataError(
                f"{where}: {cell!r} is not a number, but the config reads the column as "
                f"{rule.what}" + (_missing_hint(cell) or "; fix the cell or leave it empty")
            ) from None
        if rule.finite_label and (not math.isfinite(value) or abs(value) > FLOAT32_MAX):
            raise DataError(
                f"{where}: label {cell!r} of head {rule.finite_label!r} is not a finite "
                "number (float32 holds up to 3.4e38); fix the cell or leave it empty "
                "(with label_may_be_missing: true the row still trains the other heads)"
            )
        if rule.binary and value not in (0.0, 1.0):
            raise DataError(
                f"{where}: {cell!r} is neither 0 nor 1, the values of {rule.what}; "
                "fix the cell, or set positive_class to the value that means 1"
                + _missing_hint(cell)
            )
        if rule.classes and not (
            math.isfinite(value) and value == int(value) and 0 <= value < rule.classes
        ):
            raise DataError(
                f"{where}: {cell!r} is not a class of {rule.what}, which takes 0.."
                f"{rule.classes - 1} (num_classes {rule.classes}); fix the cell or leave it empty"
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


def _check_file(path: str, expected: list[str], first: str, columns: _Columns) -> int:
    """Checks one file; returns its number of rows."""
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
        return rows


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


# TFX ExampleGen's default output split, which the pipeline keeps: train 2,
# eval 1 hash buckets.
TRAIN_SHARE = 2 / 3


def _check_validation_slice(config: PipelineConfig, rows: int, files: list[str]) -> None:
    """Early stopping carves its validation slice from the training split:
    refuse data too small for one, saying how many rows it needs."""
    stopping = config.training.early_stopping
    if stopping is None:
        return
    train_rows = round(rows * TRAIN_SHARE)
    if train_rows < stopping.rows_needed():
        raise DataError(
            f"training.early_stopping: {rows:,} rows in {len(files)} file(s) give about "
            f"{train_rows:,} training rows; its validation slice (validation_fraction "
            f"{stopping.validation_fraction:g} of them) needs at least {MIN_VALIDATION_ROWS} "
            f"rows, so {stopping.rows_needed():,} training rows (about "
            f"{math.ceil(stopping.rows_needed() / TRAIN_SHARE):,} rows of data): add data, "
            "raise validation_fraction, or remove training.early_stopping"
        )


def check_data(config: PipelineConfig, data_dir: str) -> list[str]:
    """Checks headers, encoding, row lengths and label cells of every CSV file.

    A fast check reads the files a block at a time with Arrow (about 20x
    faster: 1 s for 1.5M rows); on any doubt, every file is scanned again
    with the csv module, whose errors name the line.

    Raises:
      DataError: naming the file, the line and the problem (a column the
        config needs is missing, headers differ between files, a row has the
        wrong number of fields, a slicing's column is missing, a byte is
        not UTF-8, a cell the config reads as a number is not one (with the
        missing_values line to add when it looks like a missing-value
        token), a regression label is not a finite number, a binary label is
        neither 0 nor 1 or has a third value, a multiclass label is not one of
        the head's classes, a column the config reads is empty throughout, a
        file is empty, early stopping on too few rows for a validation slice).
    """
    files = csv_files(data_dir)
    path = files[0]
    try:
        header = _header(config, path)
        try:
            columns = _Columns(config, header)
            rows = sum(_fast_rows(path, header, columns) for path in files)
        except _Defer:
            columns = _Columns(config, header)
            rows = 0
            for path in files:
                rows += _check_file(path, header, files[0], columns)
    except UnicodeDecodeError:
        raise _bad_byte(path) from None
    columns.never_filled(header, files)
    _check_validation_slice(config, rows, files)
    return files
