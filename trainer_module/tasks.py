"""Task kinds: what a head's task means, each in one small object.

A task owns its losses, its label encoding (in tf.Transform), the check of
its label values, its per-row loss, its serving outputs and the metrics it
can be judged by. A new task kind is one new class added to `TASKS`.

TensorFlow is loaded on first use (`_tf`), so that the config, which checks
losses and metrics against these tasks, validates without it.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf


class _Lazy:
    """A module imported when one of its attributes is first read."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


_tf: Any = _Lazy("tensorflow")


class LabelFields(Protocol):
    """What a task reads of a head (trainer_module.spec.LabelSpec)."""

    name: str
    label: str
    loss: str | None
    huber_delta: float | None
    positive_class: str | None
    classes: list[str] | None
    num_classes: int | None


@dataclasses.dataclass(frozen=True)
class Metric:
    """A metric a head can be judged by: its TFMA class and which way is better.

    higher_is_better is None for a metric without a direction (a count, a
    calibration ratio): it may be bounded, never compared as better or worse.
    needs_both_classes: the metric means nothing on examples of one class
    only (an AUC; a recall without positives), e.g. on a small slice.
    during_training: the trainer's own computation of it from labels and
    the head's raw output (logits, or label units for regression), rows
    without a label left out, so early stopping can monitor it; None: TFMA
    alone computes it.
    """

    tfma_class: str
    higher_is_better: bool | None
    needs_both_classes: bool = False
    during_training: Callable[[np.ndarray, np.ndarray], float] | None = None


def _auc(label: np.ndarray, logit: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (tied scores share their mean
    rank); NaN without both classes."""
    _, inverse, counts = np.unique(logit, return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = mean_rank[inverse]
    positive = label > 0.5
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _binary_accuracy(label: np.ndarray, logit: np.ndarray) -> float:
    return float(np.mean((logit > 0) == (label > 0.5)))


def _class_accuracy(label: np.ndarray, logits: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == label.astype(np.int64)))


def _mae(label: np.ndarray, value: np.ndarray) -> float:
    return float(np.mean(np.abs(value.reshape(label.shape) - label)))


def _mse(label: np.ndarray, value: np.ndarray) -> float:
    return float(np.mean(np.square(value.reshape(label.shape) - label)))


def _rmse(label: np.ndarray, value: np.ndarray) -> float:
    return float(np.sqrt(_mse(label, value)))


_COUNT = {"example_count": Metric("ExampleCount", None)}


def require_numeric(value: tf.Tensor, what: str) -> None:
    """Raises TypeError when a column that must hold numbers holds strings."""
    if value.dtype == _tf.string:
        raise TypeError(
            f"{what} must be numeric but the data column holds strings; "
            "check the CSV for non-numeric values in it"
        )


def _no_classes(head: LabelFields) -> None:
    if head.classes is not None or head.num_classes is not None:
        raise ValueError("'classes' and 'num_classes' are for multiclass heads")


def _no_positive_class(head: LabelFields) -> None:
    if head.positive_class is not None:
        raise ValueError("'positive_class' is for binary heads")


class Task:
    """Base of the task kinds; see the module docstring."""

    name: str = ""
    losses: tuple[str, ...] = ()  # the first is the default
    metrics: dict[str, Metric] = {}
    default_metrics: tuple[str, ...] = ()
    # Regression towers work at unit scale and map to label units at the end.
    scaled_output: bool = False

    def check(self, head: LabelFields) -> None:
        """Raises ValueError on head fields that do not fit this task."""
        _no_classes(head)
        _no_positive_class(head)

    def output_size(self, head: LabelFields) -> int:
        return 1

    def encode_label(self, head: LabelFields, value: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(label as float32, present as bool) of a raw label column."""
        require_numeric(value, f"label {head.label!r} of head {head.name!r}")
        return value, _tf.logical_not(_tf.math.is_nan(value))

    def bad_labels(self, head: LabelFields, present: np.ndarray) -> np.ndarray:
        """The present label values this task cannot train on."""
        return present[~np.isfinite(present)]

    def expected_labels(self, head: LabelFields) -> str:
        return "finite numbers"

    def per_example_loss(
        self, head: LabelFields, label: tf.Tensor, raw: tf.Tensor, label_scale: Any = 1.0
    ) -> tf.Tensor:
        """Loss of every row; `raw` is the tower's output (logits or label units).

        `label_scale`: the standard deviation of the training labels, for
        losses defined in it (huber's delta).
        """
        raise NotImplementedError

    def predictions(self, head: LabelFields, raw: tf.Tensor) -> dict[str, tf.Tensor]:
        """Serving outputs of the head by name (the names are a contract)."""
        return {head.name: raw}

    def evaluated_output(self, head: LabelFields) -> str:
        """The serving output that TFMA compares with the label."""
        return head.name


class Binary(Task):
    name = "binary"
    losses = ("binary_crossentropy",)
    metrics = {
        "auc": Metric("AUC", True, needs_both_classes=True, during_training=_auc),
        "auc_precision_recall": Metric("AUCPrecisionRecall", True, needs_both_classes=True),
        "binary_accuracy": Metric("BinaryAccuracy", True, during_training=_binary_accuracy),
        "precision": Metric("Precision", True),
        "recall": Metric("Recall", True, needs_both_classes=True),
        "binary_crossentropy": Metric("BinaryCrossentropy", False),
        "calibration": Metric("Calibration", None),
        **_COUNT,
    }
    default_metrics = ("auc", "binary_accuracy")

    def check(self, head: LabelFields) -> None:
        _no_classes(head)

    def encode_label(self, head: LabelFields, value: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if value.dtype != _tf.string:
            return super().encode_label(head, value)
        if head.positive_class is None:
            raise ValueError(
                f"head {head.name!r}: label column {head.label!r} holds strings; "
                "set positive_class to the value that means 1"
            )
        present = _tf.not_equal(value, "")
        return _tf.cast(_tf.equal(value, head.positive_class), _tf.float32), present

    def bad_labels(self, head: LabelFields, present: np.ndarray) -> np.ndarray:
        return present[(present != 0) & (present != 1)]

    def expected_labels(self, head: LabelFields) -> str:
        return "0 or 1"

    def per_example_loss(
        self, head: LabelFields, label: tf.Tensor, raw: tf.Tensor, label_scale: Any = 1.0
    ) -> tf.Tensor:
        return _tf.nn.sigmoid_cross_entropy_with_logits(labels=label, logits=raw)

    def predictions(self, head: LabelFields, raw: tf.Tensor) -> dict[str, tf.Tensor]:
        return {head.name: _tf.sigmoid(raw)}


class Multiclass(Task):
    name = "multiclass"
    losses = ("sparse_categorical_crossentropy",)
    metrics = {
        "sparse_categorical_accuracy": Metric(
            "SparseCategoricalAccuracy", True, during_training=_class_accuracy
        ),
        "sparse_categorical_crossentropy": Metric("SparseCategoricalCrossentropy", False),
        **_COUNT,
    }
    default_metrics = ("sparse_categorical_accuracy",)

    def check(self, head: LabelFields) -> None:
        if (head.classes is None) == (head.num_classes is None):
            raise ValueError(
                "a multiclass head needs exactly one of 'classes' (string "
                "labels, in output order) or 'num_classes' (labels 0..n-1)"
            )
        if head.classes is not None and len(set(head.classes)) < 2:
            raise ValueError("'classes' needs at least two distinct values")
        _no_positive_class(head)

    def output_size(self, head: LabelFields) -> int:
        return len(head.classes) if head.classes else int(head.num_classes or 0)

    def encode_label(self, head: LabelFields, value: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if head.classes is None:
            return super().encode_label(head, value)
        if value.dtype != _tf.string:
            value = _tf.strings.as_string(_tf.cast(value, _tf.int64))
        classes = _tf.constant(head.classes)[_tf.newaxis, :]
        matches = _tf.equal(_tf.expand_dims(value, 1), classes)
        label = _tf.cast(_tf.argmax(_tf.cast(matches, _tf.int32), axis=1), _tf.float32)
        return label, _tf.reduce_any(matches, axis=1)

    def bad_labels(self, head: LabelFields, present: np.ndarray) -> np.ndarray:
        size = self.output_size(head)
        return present[(present < 0) | (present >= size) | (present != np.round(present))]

    def expected_labels(self, head: LabelFields) -> str:
        return f"0..{self.output_size(head) - 1}"

    def per_example_loss(
        self, head: LabelFields, label: tf.Tensor, raw: tf.Tensor, label_scale: Any = 1.0
    ) -> tf.Tensor:
        return _tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=_tf.cast(label, _tf.int32), logits=raw
        )

    def predictions(self, head: LabelFields, raw: tf.Tensor) -> dict[str, tf.Tensor]:
        index = _tf.argmax(raw, axis=1)
        outputs = {head.name: index, f"{head.name}_probabilities": _tf.nn.softmax(raw, axis=1)}
        if head.classes is not None:
            outputs[f"{head.name}_class"] = _tf.gather(_tf.constant(head.classes), index)
        return outputs

    def evaluated_output(self, head: LabelFields) -> str:
        return f"{head.name}_probabilities"


class Regression(Task):
    name = "regression"
    losses = ("mean_squared_error", "mean_absolute_error", "huber")
    metrics = {
        "mean_squared_error": Metric("MeanSquaredError", False, during_training=_mse),
        "mean_absolute_error": Metric("MeanAbsoluteError", False, during_training=_mae),
        "root_mean_squared_error": Metric("RootMeanSquaredError", False, during_training=_rmse),
        "mean_absolute_percentage_error": Metric("MeanAbsolutePercentageError", False),
        **_COUNT,
    }
    default_metrics = ("mean_squared_error", "mean_absolute_error")
    scaled_output = True

    def per_example_loss(
        self, head: LabelFields, label: tf.Tensor, raw: tf.Tensor, label_scale: Any = 1.0
    ) -> tf.Tensor:
        error = raw - label
        if head.loss == "mean_absolute_error":
            return _tf.abs(error)
        if head.loss == "huber":
            # Quadratic within `huber_delta` standard deviations of the
            # labels, linear beyond: a few very long trips pull no harder
            # than a short one's error does, whatever the label's units.
            delta = float(head.huber_delta or 1.0) * _tf.cast(label_scale, error.dtype)
            absolute = _tf.abs(error)
            return _tf.where(
                absolute <= delta, 0.5 * _tf.square(error), delta * (absolute - 0.5 * delta)
            )
        return _tf.square(error)


TASKS: dict[str, Task] = {task.name: task for task in (Binary(), Multiclass(), Regression())}
