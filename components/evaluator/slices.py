"""Each head judged on every slice of the configured slicings.

TFMA computes every head's metrics on each slice in the same pass as the
whole split (eval_config.py). Here each head's `per_slice` bounds are
applied to the slices of their slicing that hold at least `min_examples`
examples with the head's label (smaller ones are reported, never judged),
and each head's verdict gets, per slicing, the slices it keeps: every
failing slice, then the largest others up to `slices_kept`; the rest are
counted in one `others` entry, beside how many slices were judged and
how many fail.

A slice where a bounded metric is not defined (an AUC on a slice whose
labels are all one class: TFMA reports 0 there) is reported as not judged,
not failed: no model can have a value there. Nor is a slice whose metric
has no interval when intervals are on (the jackknife cannot tell its
noise); where it has one, a bound is refused only when the whole interval
is beyond it.
"""

from __future__ import annotations

import math
from typing import Any

from components.evaluator.eval_config import BASELINE, CANDIDATE, EXAMPLE_COUNT, MEAN_LABEL
from components.evaluator.gates import EvaluationSpec, HeadGates, SliceThreshold, slicing_name
from components.evaluator.results import SliceKey, SliceResults, by_output, model_outputs
from components.evaluator.verdicts import (
    FAIL,
    PASS,
    Estimate,
    SliceChecks,
    absolute_check,
    change_check,
)

NOT_JUDGED = "not judged"


def slice_text(key: SliceKey, columns: list[str]) -> str:
    """`payment_type=Cash`, `company=Flash Cab, payment_type=Cash`."""
    values = dict(key)
    return ", ".join(f"{column}={values[column]}" for column in columns)


def _slices_of(results: dict[SliceKey, SliceResults], columns: list[str]) -> list[SliceKey]:
    wanted = sorted(columns)
    return [key for key in results if key and sorted(c for c, _ in key) == wanted]


def _judge(
    head: HeadGates,
    metric: str,
    bound: SliceThreshold,
    entry: dict[str, Any],
    estimates: dict[str, Estimate],
    changes: dict[str, Estimate],
    served_version: Any,
    confidence: float | None,
) -> list[tuple[bool, str]]:
    """The checks of one per-slice bound on one slice (none: not judged)."""
    examples = entry["examples"]
    value = entry["metrics"].get(metric)
    if examples < bound.min_examples:
        entry["notes"].append(f"fewer than {bound.min_examples} examples: {metric} not judged")
        return []
    one_class = entry.get("positives") in (0, examples)
    if value is None or math.isnan(value) or (one_class and head.needs_both_classes(metric)):
        entry["notes"].append(f"{metric} is not defined on this slice: not judged")
        return []
    estimate = estimates.get(metric)
    interval = estimate.interval(confidence) if estimate is not None else None
    if estimate is not None and confidence is not None and interval is None:
        entry["notes"].append(
            f"{metric} has no interval on this slice (too few examples of one class?): not judged"
        )
        return []
    if interval is not None:
        entry.setdefault("intervals", {})[metric] = list(interval)
    where = f" on {entry['slice']} ({examples} examples)"
    served = (entry.get("served") or {}).get(metric)
    checks = [
        absolute_check(head, metric, value, bound, where, interval, confidence),
        change_check(
            head,
            metric,
            value,
            bound,
            served,
            served_version,
            changes.get(metric),
            confidence,
            where,
        ),
    ]
    return [check for check in checks if check is not None]


def _kept(entries: list[dict[str, Any]], head: HeadGates, kept: int) -> dict[str, Any]:
    """Every failing slice (the worst value of its first failing metric
    first), then the largest others up to `kept`; the rest counted."""

    def badness(entry: dict[str, Any]) -> float:
        metric = entry["failed"][0]
        value = entry["metrics"][metric]
        return -value if head.higher_is_better(metric) else value

    failing = sorted((e for e in entries if e["verdict"] == FAIL), key=badness, reverse=True)
    rest = sorted((e for e in entries if e["verdict"] != FAIL), key=lambda e: -e["examples"])
    shown = rest[: max(0, kept - len(failing))]
    others = rest[len(shown) :]
    return {
        "slices": failing + shown,
        "others": {"slices": len(others), "examples": sum(e["examples"] for e in others)},
    }


def _entry(
    found: SliceResults, key: SliceKey, columns: list[str], head: HeadGates, spec: EvaluationSpec
) -> dict[str, Any]:
    """One slice of one head as the summary shows it (before it is judged)."""
    candidate = model_outputs(found, CANDIDATE, spec).get(head.output, {})
    served = model_outputs(found, BASELINE, spec).get(head.output)
    values = dict(key)
    entry: dict[str, Any] = {
        "slice": slice_text(key, columns),
        "values": {column: values[column] for column in columns},
        "examples": int(candidate.get(EXAMPLE_COUNT, 0)),
        "metrics": {m: candidate[m] for m in head.metrics if m in candidate},
        "notes": [],
    }
    if MEAN_LABEL in candidate and not math.isnan(candidate[MEAN_LABEL]):
        entry["positives"] = round(candidate[MEAN_LABEL] * entry["examples"])
    if served is not None:
        entry["served"] = {m: served[m] for m in head.metrics if m in served}
    return entry


def _check_slicing(
    spec: EvaluationSpec,
    head: HeadGates,
    columns: list[str],
    results: dict[SliceKey, SliceResults],
    served_version: Any,
    checks: SliceChecks,
) -> None:
    """Judges and keeps one head's slices of one slicing (adds to `checks`)."""
    name = slicing_name(columns)
    gates = [
        (metric, bound)
        for metric, threshold in sorted(head.thresholds.items())
        for bound in threshold.per_slice
        if slicing_name(bound.slicing) == name
    ]
    entries, failing_metrics = [], set()
    failures: dict[str, list[str]] = {}  # slice -> its failing reasons
    for key in _slices_of(results, columns):
        entry = _entry(results[key], key, columns, head, spec)
        changes = by_output(results[key].changes, spec).get(head.output, {})
        estimates = model_outputs(results[key], CANDIDATE, spec, estimates=True)
        done, failed = [], []
        for metric, bound in gates:
            judged = _judge(
                head,
                metric,
                bound,
                entry,
                estimates.get(head.output, {}),
                changes,
                served_version,
                spec.confidence,
            )
            done += judged
            if not all(ok for ok, _ in judged):
                failed.append(metric)
        entry["verdict"] = (FAIL if failed else PASS) if done else NOT_JUDGED
        entry["failed"] = failed
        failures[entry["slice"]] = [t for ok, t in done if not ok]
        entry["reasons"] = failures[entry["slice"]] + [t for ok, t in done if ok]
        failing_metrics.update(failed)
        entries.append(entry)
    kept = _kept(entries, head, spec.slices_kept)
    kept["judged"] = sum(e["verdict"] != NOT_JUDGED for e in entries)
    kept["failing"] = sum(e["verdict"] == FAIL for e in entries)
    checks.slicings[name] = kept
    for entry in kept["slices"]:
        checks.failures += failures[entry["slice"]]
    for metric, bound in gates:
        if metric not in failing_metrics:
            judged = sum(e["examples"] >= bound.min_examples for e in entries)
            checks.passes.append(
                f"{head.name}: {metric} within bounds on every judged slice of {name} "
                f"({judged} of {len(entries)} slices have >= {bound.min_examples} examples)"
            )


def check_slices(
    spec: EvaluationSpec, results: dict[SliceKey, SliceResults], served_version: Any
) -> dict[str, SliceChecks]:
    """Head name -> its checks on the slices of every configured slicing."""
    found = {head.name: SliceChecks() for head in spec.heads}
    for columns in spec.slices:
        for head in spec.heads:
            _check_slicing(spec, head, columns, results, served_version, found[head.name])
    return found
