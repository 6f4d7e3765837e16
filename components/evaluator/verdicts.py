"""Per-head verdicts from TFMA's metrics and validation result, in words."""

from __future__ import annotations

import math
from typing import Any

from pipeline.config import Head, PipelineConfig
from trainer_module.model import evaluated_output

PASS = "pass"
FAIL = "fail"


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _bounds_text(bound) -> str:
    sides = []
    if bound.lower is not None:
        sides.append(f">= {_fmt(bound.lower)}")
    if bound.upper is not None:
        sides.append(f"<= {_fmt(bound.upper)}")
    return " and ".join(sides)


def head_verdict(head: Head, metrics: dict[str, float], failed: set[str]) -> dict[str, Any]:
    """The verdict of one head.

    Args:
      head: the head's config (metrics and thresholds).
      metrics: metric name -> value of this head on the eval split.
      failed: names of this head's metrics that TFMA's validation failed.

    Returns:
      {"metrics", "thresholds", "verdict", "reasons"}; every threshold gives
      one reason, failing ones first.
    """
    failures, passes = [], []
    for metric, bound in sorted(head.thresholds.items()):
        value = metrics.get(metric)
        if value is None or math.isnan(value):
            failures.append(f"{head.name}: {metric} was not computed")
            continue
        if bound.lower is not None and value < bound.lower:
            failures.append(f"{head.name}: {metric} {_fmt(value)} < threshold {_fmt(bound.lower)}")
        elif bound.upper is not None and value > bound.upper:
            failures.append(f"{head.name}: {metric} {_fmt(value)} > threshold {_fmt(bound.upper)}")
        elif metric in failed:
            failures.append(f"{head.name}: {metric} {_fmt(value)} failed TFMA validation")
        else:
            passes.append(f"{head.name}: {metric} {_fmt(value)} {_bounds_text(bound)}")
    if not head.thresholds:
        passes.append(f"{head.name}: no thresholds set")
    return {
        "metrics": dict(sorted(metrics.items())),
        "thresholds": {
            k: v.model_dump(exclude_none=True) for k, v in sorted(head.thresholds.items())
        },
        "verdict": FAIL if failures else PASS,
        "reasons": failures + passes,
    }


def verdicts(
    config: PipelineConfig,
    metrics_by_output: dict[str, dict[str, float]],
    failures_by_output: dict[str, set[str]],
) -> dict[str, dict[str, Any]]:
    """Every head's verdict; outputs are the model outputs TFMA evaluated."""
    result = {}
    for head in config.heads:
        output = evaluated_output(head)
        result[head.name] = head_verdict(
            head,
            metrics_by_output.get(output, {}),
            failures_by_output.get(output, set()),
        )
    return result


def is_blessed(config: PipelineConfig, head_verdicts: dict[str, dict[str, Any]]) -> bool:
    """The blessing policy: every required head passes."""
    return all(head_verdicts[name]["verdict"] == PASS for name in config.required_heads())
