"""Per-head verdicts from TFMA's metrics and validation result, in words."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from scipy import stats

from components.evaluator.gates import Bounds, EvaluationSpec, HeadGates

PASS = "pass"
FAIL = "fail"


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A metric's value, or a diff of one metric (candidate - served), with
    TFMA's jackknife standard error (paired for a diff; None: no interval
    was computed)."""

    value: float
    std_error: float | None = None
    degrees_of_freedom: int | None = None

    def interval(self, confidence: float | None) -> tuple[float, float] | None:
        """The two-sided interval at `confidence`, if there is one."""
        if confidence is None or self.std_error is None or not self.degrees_of_freedom:
            return None
        if math.isnan(self.std_error):
            return None
        half = float(stats.t.ppf((1 + confidence) / 2, self.degrees_of_freedom)) * self.std_error
        return self.value - half, self.value + half


@dataclasses.dataclass
class SliceChecks:
    """One head's checks on the slices of the configured slicings (slices.py):
    failing and passing reasons, and per slicing the slices kept for the
    summary with an `others` count."""

    failures: list[str] = dataclasses.field(default_factory=list)
    passes: list[str] = dataclasses.field(default_factory=list)
    slicings: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _bounds_text(bound: Bounds) -> str:
    sides = []
    if bound.lower is not None:
        sides.append(f">= {_fmt(bound.lower)}")
    if bound.upper is not None:
        sides.append(f"<= {_fmt(bound.upper)}")
    return " and ".join(sides)


def absolute_check(
    head: HeadGates,
    metric: str,
    value: float,
    bound: Bounds,
    where: str = "",
    interval: tuple[float, float] | None = None,
    confidence: float | None = None,
) -> tuple[bool, str] | None:
    """The lower / upper bounds (`where`: which examples, in the reason's
    subject). With the value's interval (at `confidence`), a bound is
    refused only when the whole interval is beyond it."""
    if bound.lower is None and bound.upper is None:
        return None
    subject = f"{head.name}{where}: {metric} {_fmt(value)}"
    if interval is not None:
        low, high = interval
        subject += f" ({100 * confidence:g}% CI {_fmt(low)}..{_fmt(high)})"
    else:
        low = high = value
    unsure = "its interval reaches the threshold: not refused"
    if bound.lower is not None and value < bound.lower:
        text = f"{subject} < threshold {_fmt(bound.lower)}"
        return (False, text) if high < bound.lower else (True, f"{text}; {unsure}")
    if bound.upper is not None and value > bound.upper:
        text = f"{subject} > threshold {_fmt(bound.upper)}"
        return (False, text) if low > bound.upper else (True, f"{text}; {unsure}")
    return True, f"{subject} {_bounds_text(bound)}"


def change_check(
    head: HeadGates,
    metric: str,
    value: float,
    bound: Bounds,
    served: float | None,
    version: Any,
    change: Estimate | None,
    confidence: float | None,
    where: str = "",
) -> tuple[bool, str] | None:
    """The change bounds (`where`: which examples, in the reason's subject).
    With an interval, the candidate is refused only when even the
    interval's most favourable end is worse than allowed (a one-sided test
    at (1 + confidence) / 2); without one, on the point estimate."""
    if not bound.has_change:
        return None
    if served is None or math.isnan(served):
        return True, f"{head.name}{where}: {metric}: no served model to compare with"
    higher = head.higher_is_better(metric)
    worse_by = (served - value) if higher else (value - served)
    allowed = []
    if bound.max_worse is not None:
        allowed.append(bound.max_worse)
    if bound.max_worse_relative is not None:
        allowed.append(bound.max_worse_relative * abs(served))
    limit = min(allowed)
    interval = change.interval(confidence) if change is not None else None
    if interval is None or interval[0] == interval[1]:  # no interval, or no spread at all
        worse_text = f"{'worse' if worse_by > 0 else 'not worse'} by {_fmt(abs(worse_by))}"
        ok = worse_by <= limit
    else:
        low, high = sorted(-end if higher else end for end in interval)
        worse_text = (
            f"worse by {_fmt(worse_by)} ({100 * confidence:g}% CI {_fmt(low)}..{_fmt(high)})"
        )
        ok = low <= limit
    text = (
        f"{head.name}{where}: {metric} {_fmt(value)} vs served v{version} {_fmt(served)}, "
        f"{worse_text}, allowed {_fmt(limit)}"
    )
    return ok, text


def head_verdict(
    head: HeadGates,
    metrics: dict[str, float],
    failed: set[str],
    served_metrics: dict[str, float] | None = None,
    served_version: Any = None,
    degenerate: str | None = None,
    changes: dict[str, Estimate] | None = None,
    confidence: float | None = None,
    slices: SliceChecks | None = None,
) -> dict[str, Any]:
    """The verdict of one head.

    Args:
      head: the head's config (metrics and thresholds).
      metrics: metric name -> the candidate's value on the eval split.
      failed: names of this head's metrics that TFMA's validation failed.
      served_metrics: the served model's values, when it was evaluated too.
      served_version: the served model's version, for the reasons.
      degenerate: why the head's outputs are degenerate (degenerate.py), if
        they are: the head fails whatever its thresholds say.
      changes: metric name -> TFMA's diff with the served model and its
        interval; confidence: the interval's level (None: point estimates).
      slices: the head's checks on the slices (slices.py), if any.

    Returns:
      {"metrics", "thresholds", "verdict", "reasons", "failures", "served",
      "degenerate", "slices", "changes"}; the `failures` first reasons are the
      failing ones (the whole split's, then the slices').
    """
    slices = slices or SliceChecks()
    metrics = {m: metrics[m] for m in head.metrics if m in metrics}
    failures, passes = ([degenerate] if degenerate else []), []
    for metric, bound in sorted(head.thresholds.items()):
        if not bound.has_bound:
            continue  # bounds on slices only
        value = metrics.get(metric)
        if value is None or math.isnan(value):
            failures.append(f"{head.name}: {metric} was not computed")
            continue
        served = (served_metrics or {}).get(metric)
        checks = [
            check
            for check in (
                absolute_check(head, metric, value, bound),
                change_check(
                    head,
                    metric,
                    value,
                    bound,
                    served,
                    served_version,
                    (changes or {}).get(metric),
                    confidence,
                ),
            )
            if check is not None
        ]
        for ok, text in checks:
            (passes if ok else failures).append(text)
        if metric in failed and all(ok for ok, _ in checks):
            failures.append(f"{head.name}: {metric} {_fmt(value)} failed TFMA validation")
    if not head.thresholds:
        passes.append(f"{head.name}: no thresholds set")
    failures += slices.failures
    passes += slices.passes
    return {
        "metrics": dict(sorted(metrics.items())),
        "thresholds": {
            k: v.model_dump(exclude_none=True, exclude=None if v.per_slice else {"per_slice"})
            for k, v in sorted(head.thresholds.items())
        },
        "verdict": FAIL if failures else PASS,
        "reasons": failures + passes,
        "failures": len(failures),  # the first reasons are the failing ones
        "served": None
        if served_metrics is None
        else {"version": served_version, "metrics": dict(sorted(served_metrics.items()))},
        "degenerate": degenerate,
        "slices": slices.slicings,
        "changes": _changes(changes, confidence),
    }


def _changes(
    changes: dict[str, Estimate] | None, confidence: float | None
) -> dict[str, dict[str, float]]:
    """Each compared metric's diff (candidate - served) and, where TFMA
    computed one, its interval at `confidence`: for the report."""
    result = {}
    for metric, change in sorted((changes or {}).items()):
        if math.isnan(change.value):
            continue
        entry = {"diff": change.value}
        interval = change.interval(confidence)
        if interval is not None:
            entry.update(low=interval[0], high=interval[1], confidence=confidence)
        result[metric] = entry
    return result


def verdicts(
    spec: EvaluationSpec,
    metrics_by_output: dict[str, dict[str, float]],
    failures_by_output: dict[str, set[str]],
    served_by_output: dict[str, dict[str, float]] | None = None,
    served_version: Any = None,
    degenerate: dict[str, str] | None = None,
    changes_by_output: dict[str, dict[str, Estimate]] | None = None,
    slices: dict[str, SliceChecks] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every head's verdict; outputs are the model outputs TFMA evaluated."""
    result = {}
    for head in spec.heads:
        served = None if served_by_output is None else served_by_output.get(head.output, {})
        result[head.name] = head_verdict(
            head,
            metrics_by_output.get(head.output, {}),
            failures_by_output.get(head.output, set()),
            served,
            served_version,
            (degenerate or {}).get(head.name),
            (changes_by_output or {}).get(head.output),
            spec.confidence,
            (slices or {}).get(head.name),
        )
        # What the head is and which output was judged: for the report.
        result[head.name].update(task=head.task, output=head.output)
    return result


def add_holdout_checks(
    verdict: dict[str, Any],
    head: HeadGates,
    metrics: dict[str, float],
    served_metrics: dict[str, float],
    changes: dict[str, Estimate],
    served_version: Any,
    confidence: float | None,
) -> None:
    """Adds to `verdict` the head's change bounds judged on the served
    version's holdout (the examples that judged it): failing ones first."""
    failures, passes = [], []
    for metric, bound in sorted(head.thresholds.items()):
        value, served = metrics.get(metric), served_metrics.get(metric)
        if not bound.has_change or value is None or served is None:
            continue
        ok, text = change_check(
            head,
            metric,
            value,
            bound,
            served,
            served_version,
            changes.get(metric),
            confidence,
            where=f" on v{served_version}'s holdout",
        )
        (passes if ok else failures).append(text)
    verdict["holdout"] = {"metrics": dict(sorted(metrics.items())), "served": served_metrics}
    verdict["reasons"] = failures + verdict["reasons"] + passes
    verdict["failures"] = len(failures) + verdict.get("failures", 0)
    if failures:
        verdict["verdict"] = FAIL


def is_blessed(spec: EvaluationSpec, head_verdicts: dict[str, dict[str, Any]]) -> bool:
    """The blessing policy: every required head passes, and no head at all has
    degenerate outputs (it would be served in the same SavedModel)."""
    if any(verdict.get("degenerate") for verdict in head_verdicts.values()):
        return False
    return all(head_verdicts[name]["verdict"] == PASS for name in spec.require)
