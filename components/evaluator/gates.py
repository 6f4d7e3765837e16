"""The evaluation spec: each head's metrics and thresholds, and the push policy.

What MultiHeadEvaluator reads (as JSON in its `config` property); the
pipeline config builds it from the heads' `metrics` and `thresholds` and the
`evaluation` and `baseline` sections.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainer_module.spec import NAME_RE, Strict, TransformedKeys
from trainer_module.tasks import TASKS, Task


class Threshold(Strict):
    """Bounds on one metric of a head.

    lower / upper: absolute bounds on the candidate's value.
    max_worse: how much worse than the served model the candidate may be, in
    the metric's units (an AUC may drop by 0.01: `max_worse: 0.01`).
    max_worse_relative: the same as a fraction of the served value (an MSE
    may rise by 5%: `max_worse_relative: 0.05`). "Worse" follows the metric:
    lower for AUC, accuracy, precision, recall; higher for errors and losses.
    """

    lower: float | None = None
    upper: float | None = None
    max_worse: float | None = Field(None, ge=0)
    max_worse_relative: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if all(
            v is None for v in (self.lower, self.upper, self.max_worse, self.max_worse_relative)
        ):
            raise ValueError("give 'lower', 'upper', 'max_worse' or 'max_worse_relative'")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower {self.lower} > upper {self.upper}")
        return self

    @property
    def has_change(self) -> bool:
        return self.max_worse is not None or self.max_worse_relative is not None


def check_gates(
    task: Task, metrics: list[str] | None, thresholds: dict[str, Threshold]
) -> list[str]:
    """The head's metrics (the task's defaults when None), checked with its thresholds.

    Raises:
      ValueError: a metric the task does not know, a threshold on a metric
        not listed, or a change bound on a metric without a direction.
    """
    chosen = list(task.default_metrics) if metrics is None else list(metrics)
    for metric in chosen:
        if metric not in task.metrics:
            raise ValueError(
                f"metric {metric!r} is unknown for task {task.name!r}; "
                f"expected one of {sorted(task.metrics)}"
            )
    for metric, bound in thresholds.items():
        if metric not in chosen:
            raise ValueError(
                f"threshold on {metric!r}, which is not in this head's metrics {chosen}"
            )
        if bound.has_change and task.metrics[metric].higher_is_better is None:
            raise ValueError(
                f"threshold on {metric!r}: max_worse / max_worse_relative need a metric "
                "that is better one way (it has none); use lower / upper"
            )
    return chosen


class HeadGates(Strict, TransformedKeys):
    """One head as the evaluator sees it: its task, metrics and thresholds."""

    name: str = Field(pattern=NAME_RE)
    task: str
    metrics: list[str]
    thresholds: dict[str, Threshold] = {}
    # The evaluated output: `<head>` or `<head>_probabilities` (multiclass).
    output: str

    @model_validator(mode="after")
    def _check(self) -> HeadGates:
        check_gates(TASKS[self.task], self.metrics, self.thresholds)
        return self

    def higher_is_better(self, metric: str) -> bool:
        return bool(TASKS[self.task].metrics[metric].higher_is_better)

    def tfma_class(self, metric: str) -> str:
        return TASKS[self.task].metrics[metric].tfma_class


WHOLE, PER_HEAD = "whole", "per_head"


class EvaluationSpec(Strict):
    """Every head's gates and the push policy.

    require: heads that must pass for a push (with per-head release: pass,
    or be rolled back to the served version). compare: evaluate the served
    model too and apply the change bounds. confidence: the level of the
    paired interval the change bounds are judged by (None: point
    estimates). release: `whole` pushes the candidate or nothing;
    `per_head` keeps a failing head's served version.
    """

    heads: list[HeadGates] = Field(min_length=1)
    require: list[str]
    compare: bool = False
    confidence: float | None = Field(0.95, gt=0.5, lt=1)
    release: Literal["whole", "per_head"] = PER_HEAD

    def head(self, name: str) -> HeadGates:
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(name)
