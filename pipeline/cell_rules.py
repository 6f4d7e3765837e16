"""What the cells of the columns a config reads must be, and the check of
one cell against its rule (the preflight's exact scan and its fast check
share them)."""

from __future__ import annotations

import dataclasses
import math

from pipeline.config import PipelineConfig
from pipeline.errors import DataError

FLOAT32_MAX = 3.4028234663852886e38


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
