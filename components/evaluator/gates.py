"""The evaluation spec: each head's metrics and thresholds, and the push policy.

What MultiHeadEvaluator reads (as JSON in its `config` property); the
pipeline config builds it from the heads' `metrics` and `thresholds` and the
`evaluation` and `baseline` sections.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from trainer_module.spec import NAME_RE, Strict, TransformedKeys
from trainer_module.tasks import TASKS, Task


class Bounds(Strict):
    """Bounds on one metric of a head (overall, or on each slice of a slicing).

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

    @property
    def has_bound(self) -> bool:
        return any(
            v is not None for v in (self.lower, self.upper, self.max_worse, self.max_worse_relative)
        )

    @property
    def has_change(self) -> bool:
        return self.max_worse is not None or self.max_worse_relative is not None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower {self.lower} > upper {self.upper}")
        return self


Slicing = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


def slicing_name(columns: list[str]) -> str:
    """How a slicing is named in the summary: its columns joined by ','."""
    return ",".join(columns)


class SliceThreshold(Bounds):
    """Bounds applied on every slice of one slicing (a list of raw columns
    from `evaluation.slices`) that has at least `min_examples` examples with
    the head's label; smaller slices are reported, never judged."""

    slicing: Slicing
    min_examples: int = Field(100, ge=1)

    @model_validator(mode="after")
    def _one_bound(self) -> SliceThreshold:
        if not self.has_bound:
            raise ValueError("give 'lower', 'upper', 'max_worse' or 'max_worse_relative'")
        return self


class Threshold(Bounds):
    """Bounds on one metric of a head over the whole eval split, and
    `per_slice`: bounds on each slice of a slicing (one or a list)."""

    per_slice: list[SliceThreshold] = []

    @field_validator("per_slice", mode="before")
    @classmethod
    def _one_or_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if not self.has_bound and not self.per_slice:
            raise ValueError(
                "give 'lower', 'upper', 'max_worse', 'max_worse_relative' or 'per_slice'"
            )
        return self

    @property
    def any_change(self) -> bool:
        """A change bound overall or on a slice: the served model is needed."""
        return self.has_change or any(s.has_change for s in self.per_slice)


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
        if bound.any_change and task.metrics[metric].higher_is_better is None:
            raise ValueError(
                f"threshold on {metric!r}: max_worse / max_worse_relative need a metric "
                "that is better one way (it has none); use lower / upper"
            )
    return chosen


def check_slicings(slices: list[list[str]], thresholds: dict[str, dict[str, Threshold]]) -> None:
    """Raises ValueError for a slicing given twice, or a per-slice bound on a
    slicing that `slices` does not list (head name -> its thresholds)."""
    names = [slicing_name(s) for s in slices]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"evaluation.slices lists {twice} more than once")
    for head, bounds in thresholds.items():
        for metric, bound in bounds.items():
            for per_slice in bound.per_slice:
                if slicing_name(per_slice.slicing) not in names:
                    raise ValueError(
                        f"heads[{head}].thresholds.{metric}.per_slice: slicing "
                        f"{per_slice.slicing} is not in evaluation.slices {slices}; add it there"
                    )


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

    def needs_both_classes(self, metric: str) -> bool:
        return TASKS[self.task].metrics[metric].needs_both_classes

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
    `per_head` keeps a failing head's served version. slices: the slicings
    (lists of raw columns) every head's metrics are computed on besides the
    whole split; slices_kept: how many slices per slicing a head's verdict
    lists (every failing one, then the largest).
    """

    heads: list[HeadGates] = Field(min_length=1)
    require: list[str]
    compare: bool = False
    confidence: float | None = Field(0.95, gt=0.5, lt=1)
    release: Literal["whole", "per_head"] = PER_HEAD
    slices: list[Slicing] = []
    slices_kept: int = Field(20, ge=1)

    @model_validator(mode="after")
    def _slicings_known(self) -> EvaluationSpec:
        check_slicings(self.slices, {h.name: h.thresholds for h in self.heads})
        return self

    @property
    def has_slice_bounds(self) -> bool:
        return any(t.per_slice for h in self.heads for t in h.thresholds.values())

    def head(self, name: str) -> HeadGates:
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(name)
