"""Per-head early stopping: each head stops on its own validation loss.

Every `every` steps the training loop hands each training head's loss on the
validation slice to `EarlyStopper.check`. A head whose loss has not improved
by more than its `min_delta` for `patience` checks stops: its best weights
are put back and the loop updates it no more, while the others go on. When
the loop ends (every head stopped, or `training.steps` reached), the heads
still training get their best weights back too: every head ends at the
step where its validation loss was lowest.

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


@dataclasses.dataclass
class HeadState:
    """One head's course: its rule, its best check and when it stopped."""

    patience: int
    min_delta: float
    best: float = math.inf
    best_step: int = 0
    stale: int = 0  # checks since the best
    stopped_at: int | None = None
    weights: list[np.ndarray] | None = None

    def as_dict(self) -> dict:
        return {
            "best_step": self.best_step,
            "best_validation_loss": None if math.isinf(self.best) else self.best,
            "stopped_at": self.stopped_at,
            "patience": self.patience,
            "min_delta": self.min_delta,
        }


class EarlyStopper:
    """Tracks every head that may stop early (`rules`: head -> (patience,
    min_delta)); `variables(head)` are the weights it restores."""

    def __init__(
        self,
        rules: dict[str, tuple[int, float]],
        variables: Callable[[str], list[tf.Variable]],
    ):
        self.states = {name: HeadState(*rule) for name, rule in rules.items()}
        self._variables = variables

    def stopped(self) -> set[str]:
        return {name for name, state in self.states.items() if state.stopped_at is not None}

    def check(self, step: int, losses: dict[str, float]) -> list[str]:
        """Takes each head's validation loss at `step`; returns the heads
        that stop now (their best weights already back)."""
        stopping = []
        for name, state in self.states.items():
            if state.stopped_at is not None or name not in losses:
                continue
            loss = losses[name]
            if loss < state.best - state.min_delta:
                state.best, state.best_step, state.stale = loss, step, 0
                state.weights = [v.numpy() for v in self._variables(name)]
                continue
            state.stale += 1
            if state.stale >= state.patience:
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
