"""Per-head early stopping: each head stops on its own validation measure.

Every `every` steps the training loop hands each training head's monitored
value on the validation slice (its loss, or a metric such as its AUC or
MAE) to `EarlyStopper.check`. A head whose value has not improved by more
than its `min_delta` for `patience` checks stops: its best weights are put
back and the loop updates it no more, while the others go on. When the loop
ends (every head stopped, or `training.steps` reached), the heads still
training get their best weights back too: every head ends at the step
where its monitored value was best.

With a shared backbone only the heads' towers are restored: the backbone
goes on training while any head trains, so a stopped head's tower sits on a
backbone that moved on (docs: README, Early stopping).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from trainer_module.training_spec import StoppingRule


@dataclasses.dataclass
class HeadState:
    """One head's course: its rule, its best check and when it stopped."""

    rule: StoppingRule
    best: float | None = None
    best_step: int = 0
    stale: int = 0  # checks since the best
    stopped_at: int | None = None
    weights: list[np.ndarray] | None = None

    def improves(self, value: float) -> bool:
        """Better than the best by more than min_delta (a NaN never is)."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.rule.higher_is_better:
            return value > self.best + self.rule.min_delta
        return value < self.best - self.rule.min_delta

    def as_dict(self) -> dict:
        return {
            "monitor": self.rule.monitor,
            "best_step": self.best_step,
            "best_validation": self.best,
            "stopped_at": self.stopped_at,
            "patience": self.rule.patience,
            "min_delta": self.rule.min_delta,
        }


class EarlyStopper:
    """Tracks every head that may stop early (`rules`: head -> its rule);
    `variables(head)` are the weights it restores."""

    def __init__(
        self,
        rules: dict[str, StoppingRule],
        variables: Callable[[str], list[tf.Variable]],
    ):
        self.states = {name: HeadState(rule) for name, rule in rules.items()}
        self._variables = variables

    def monitors(self) -> dict[str, str]:
        """What each head still training is judged by (`loss` or a metric)."""
        return {
            name: state.rule.monitor
            for name, state in self.states.items()
            if state.stopped_at is None
        }

    def stopped(self) -> set[str]:
        return {name for name, state in self.states.items() if state.stopped_at is not None}

    def check(self, step: int, values: dict[str, float]) -> list[str]:
        """Takes each head's monitored value at `step`; returns the heads
        that stop now (their best weights already back)."""
        stopping = []
        for name, state in self.states.items():
            if state.stopped_at is not None or name not in values:
                continue
            value = values[name]
            if state.improves(value):
                state.best, state.best_step, state.stale = value, step, 0
                state.weights = [v.numpy() for v in self._variables(name)]
                continue
            state.stale += 1
            if state.stale >= state.rule.patience:
                state.stopped_at = step
                self._restore(name)
                stopping.append(name)
        return stopping

    def finish(self) -> None:
        """The heads still training get their best weights back."""
        for name, state in self.states.items():
            if state.stopped_at is None:
                self._restore(name)

    def _restore(self, name: str) -> None:
        weights = self.states[name].weights
        if weights is None:
            return
        for variable, value in zip(self._variables(name), weights, strict=True):
            variable.assign(value)

    def report(self) -> dict[str, dict]:
        return {name: state.as_dict() for name, state in self.states.items()}
