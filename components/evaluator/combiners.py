"""TFMA's combiners with their per-example work done a batch at a time.

TFMA hands each example to each metric's combiner, and its combiners spend
most of the evaluator's time there: `to_label_prediction_example_weight`
looks the label, prediction and weight up and reshapes them through some
thirty Python calls per example and metric (the profile in
docs/benchmarks.md, benchmark 13). The combiners here wrap TFMA's own;
only `add_input` changes: an example whose label, prediction and weight
are single numbers (every head of this project) is kept in three lists,
and the lists are added to TFMA's own accumulator with numpy, the same
arithmetic TFMA does per example. Any other example (a multi-class
vector, a class weight, a label outside [0, 1] for a binary metric) goes
through TFMA's own `add_input`, so its results and its errors stay TFMA's.

A combiner made with `whole_batches` takes a whole batch of examples (or
a group of its rows) as one input (unbatch.whole_batches): its labels,
predictions and weights, one number per row, are kept in the same lists
at once; a batch that is not one number per row is split into its
examples, each added as above.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.contrib.aggregates import binary_confusion_matrices as bcm
from tensorflow_model_analysis.metrics import (
    mean_regression_error,
    metric_types,
)

from components.evaluator import histogram, unbatch
from components.evaluator.extracts import column, lookup, number, standard

# Examples kept before they are added to TFMA's accumulator.
BATCH = 2048

_Triple = tuple[float, float, float]
_Columns = tuple[np.ndarray, np.ndarray, np.ndarray]


class Accumulator:
    """TFMA's accumulator and the examples not yet added to it."""

    __slots__ = ("inner", "labels", "predictions", "weights")

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.labels: list[float] = []
        self.predictions: list[float] = []
        self.weights: list[float] = []


class _Batched(beam.CombineFn):
    """One of TFMA's combiners, its scalar examples added `BATCH` at a time."""

    def __init__(
        self,
        inner: beam.CombineFn,
        key: metric_types.MetricKey,
        weighted: bool,
        whole_batches: bool = False,
    ) -> None:
        self._inner = inner
        self._keys = tuple(k for k in (key.model_name, key.output_name) if k)
        self._weighted = weighted
        self._whole_batches = whole_batches

    def _triple(self, element: metric_types.StandardMetricInputs) -> _Triple | None:
        extracts = getattr(element, "extracts", element)
        predicted = standard(extracts, constants.PREDICTIONS_KEY)
        prediction = number(lookup(predicted, self._keys, required=True))
        label = number(lookup(standard(extracts, constants.LABELS_KEY), self._keys, False))
        if prediction is None or label is None:
            return None
        weight = 1.0
        if self._weighted:
            found = standard(extracts, constants.EXAMPLE_WEIGHTS_KEY)
            if found is not None:
                weight = number(lookup(found, self._keys, required=False))
                if weight is None:
                    return None
        return label, prediction, weight

    def _columns(self, element: Any) -> _Columns | None:
        """A whole batch's labels, predictions and weights, one number per
        row; None where the batch is not that."""
        extracts = getattr(element, "extracts", element)
        predicted = lookup(standard(extracts, constants.PREDICTIONS_KEY), self._keys, True)
        predictions = column(predicted)
        labels = column(lookup(standard(extracts, constants.LABELS_KEY), self._keys, False))
        if predictions is None or labels is None or len(labels) != len(predictions):
            return None
        weights = np.ones(len(labels), np.float64)
        if self._weighted:
            found = standard(extracts, constants.EXAMPLE_WEIGHTS_KEY)
            if found is not None:
                weights = column(lookup(found, self._keys, required=False))
                if weights is None or len(weights) != len(labels):
                    return None
        return labels, predictions, weights

    def _accepts(self, triple: _Triple) -> bool:
        return True

    def _accepted(self, labels: np.ndarray) -> np.ndarray:
        """`_accepts` for a column of labels."""
        return np.ones(len(labels), bool)

    def _add(self, inner: Any, labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray):
        raise NotImplementedError

    def _flush(self, accumulator: Accumulator) -> Any:
        if accumulator.labels:
            accumulator.inner = self._add(
                accumulator.inner,
                np.asarray(accumulator.labels, np.float32),
                np.asarray(accumulator.predictions, np.float32),
                np.asarray(accumulator.weights, np.float64),
            )
            accumulator.labels, accumulator.predictions, accumulator.weights = [], [], []
        return accumulator.inner

    def _create_inner(self) -> Any:
        return self._inner.create_accumulator()

    def _add_one(self, inner: Any, element: Any) -> Any:
        """TFMA's add_input, for an example the batches do not take."""
        return self._inner.add_input(inner, element)

    def _merge_inner(self, inners) -> Any:
        return self._inner.merge_accumulators(inners)

    def _output(self, inner: Any) -> Any:
        return self._inner.extract_output(inner)

    def create_accumulator(self) -> Accumulator:
        return Accumulator(self._create_inner())

    def add_input(self, accumulator: Accumulator, element: Any) -> Accumulator:
        if self._whole_batches:
            return self._add_batch(accumulator, element)
        return self._add_example(accumulator, element)

    def _add_batch(self, accumulator: Accumulator, element: Any) -> Accumulator:
        columns = self._columns(element)
        extracts = getattr(element, "extracts", element)
        if columns is None:
            for example in unbatch.split(extracts):
                self._add_example(accumulator, metric_types.StandardMetricInputs(example))
            return accumulator
        labels, predictions, weights = columns
        accepted = self._accepted(labels)
        accumulator.labels.extend(labels[accepted].tolist())
        accumulator.predictions.extend(predictions[accepted].tolist())
        accumulator.weights.extend(weights[accepted].tolist())
        if len(accumulator.labels) >= BATCH:
            self._flush(accumulator)
        if not accepted.all():
            examples = unbatch.split(extracts)
            for row in np.flatnonzero(~accepted):
                self._add_example(accumulator, metric_types.StandardMetricInputs(examples[row]))
        return accumulator

    def _add_example(self, accumulator: Accumulator, element: Any) -> Accumulator:
        triple = self._triple(element)
        if triple is None or not self._accepts(triple):
            accumulator.inner = self._add_one(self._flush(accumulator), element)
            return accumulator
        accumulator.labels.append(triple[0])
        accumulator.predictions.append(triple[1])
        accumulator.weights.append(triple[2])
        if len(accumulator.labels) >= BATCH:
            self._flush(accumulator)
        return accumulator

    def merge_accumulators(self, accumulators) -> Accumulator:
        return Accumulator(self._merge_inner(self._flush(a) for a in accumulators))

    def compact(self, accumulator: Accumulator) -> Accumulator:
        self._flush(accumulator)
        return accumulator

    def extract_output(self, accumulator: Accumulator) -> Any:
        return self._output(self._flush(accumulator))


class RegressionError(_Batched):
    """mean_regression_error's combiners: the error of each example whose
    error is a number, times its weight, and the weights, summed. The
    difference is taken in float32, as TFMA takes it on the arrays.

    The accumulators are merged here: TFMA 0.47's merge takes the first
    accumulator, then adds every accumulator of the list to it, the first
    included, so a merge of a list (which Beam does across bundles, slices
    and jackknife samples) counts the first one twice and the means come
    out wrong (tests/test_batched_metrics.py shows it)."""

    def merge_accumulators(self, accumulators) -> Accumulator:
        merged = self._inner.create_accumulator()
        for accumulator in accumulators:
            merged.merge(self._flush(accumulator))
        return Accumulator(merged)

    def _add(self, inner, labels, predictions, weights):
        kind = type(self._inner)
        difference = labels - predictions
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind is mean_regression_error._MeanAbsoluteErrorCombiner:
                errors = np.abs(difference).astype(np.float64)
            elif kind is mean_regression_error._MeanSquaredErrorCombiner:
                errors = np.abs(difference).astype(np.float64) ** 2
            else:  # mean absolute percentage error: none where the label is 0
                errors = 100 * np.abs(difference / labels).astype(np.float64)
                errors[labels == 0] = np.nan
        counted = ~np.isnan(errors)
        inner.total_regression_error += float(np.sum(errors[counted] * weights[counted]))
        inner.total_example_weights += float(np.sum(weights[counted]))
        return inner


def _fractional(labels: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFMA's fractional labels: each example is a negative of weight
    w * (1 - label) and a positive of weight w * label."""
    labels = labels.astype(np.float64)
    return weights * labels, weights * (1.0 - labels)


class _Binary(_Batched):
    """A binary metric's combiner: TFMA refuses a label outside [0, 1]."""

    def _accepts(self, triple: _Triple) -> bool:
        return 0.0 <= triple[0] <= 1.0

    def _accepted(self, labels: np.ndarray) -> np.ndarray:
        return (labels >= 0.0) & (labels <= 1.0)


class Histogram(_Binary):
    """calibration_histogram's combiner (prediction-based buckets, fractional
    labels): each bucket's weighted labels, predictions and examples, kept
    in numpy arrays (histogram.py)."""

    def _create_inner(self) -> histogram.Sums:
        return histogram.Sums()

    def _add_one(self, inner: histogram.Sums, element: Any) -> histogram.Sums:
        one = self._inner.add_input(self._inner.create_accumulator(), element)
        return histogram.added(inner, histogram.of_tfma(one))

    def _merge_inner(self, inners) -> histogram.Sums:
        merged = histogram.Sums()
        for inner in inners:
            merged = histogram.added(merged, inner)
        return merged

    def _output(self, inner: histogram.Sums) -> Any:
        return {self._inner._key: histogram.histogram(inner)}

    def _add(self, inner, labels, predictions, weights):
        combiner = self._inner
        positive, negative = _fractional(labels, weights)
        kept = (positive != 0) | (negative != 0)
        predictions = predictions.astype(np.float64)[kept]
        positive, negative = positive[kept], negative[kept]
        last = combiner._num_buckets + 1
        index = (predictions - combiner._left) / combiner._range * combiner._num_buckets + 1
        buckets = np.clip(np.nan_to_num(index, nan=0.0), 0, last).astype(np.int64)
        rows = histogram.of_rows(
            buckets,
            positive,
            predictions * negative + predictions * positive,
            negative + positive,
        )
        return histogram.added(inner, rows)


class ConfusionMatrices(_Binary):
    """binary_confusion_matrices' combiner at given thresholds (fractional
    labels, no example ids): each threshold's weighted tp, tn, fp, fn."""

    def _add(self, inner, labels, predictions, weights):
        matrices = self._inner._binary_confusion_matrices
        positive, negative = _fractional(labels, weights)
        added = {}
        for threshold in matrices._thresholds:
            above = predictions > threshold
            added[threshold] = bcm._ThresholdEntry(
                bcm.Matrix(
                    tp=float(np.sum(positive[above])),
                    tn=float(np.sum(negative[~above])),
                    fp=float(np.sum(negative[above])),
                    fn=float(np.sum(positive[~above])),
                ),
                tp_examples=[],
                tn_examples=[],
                fp_examples=[],
                fn_examples=[],
            )
        return matrices.merge_accumulators([inner, added])


class LabelsPredictionsExamples(_Batched):
    """calibration's combiner of weighted labels, predictions and examples
    (mean_label, calibration): their sums."""

    def _add(self, inner, labels, predictions, weights):
        inner.total_weighted_examples += float(np.sum(weights))
        inner.total_weighted_labels += float(np.sum(labels.astype(np.float64) * weights))
        inner.total_weighted_predictions += float(np.sum(predictions.astype(np.float64) * weights))
        return inner


class Count(beam.CombineFn):
    """example_count's combiner on whole batches: each batch's weights
    summed (weighted) or its rows counted. TFMA's adds the sum of an
    example's weight, or 1 for the example, which a batch is not."""

    def __init__(self, inner: beam.CombineFn) -> None:
        self._inner = inner
        self._keys = tuple(k for k in (inner._model_name, inner._output_name) if k)
        self._weighted = inner._example_weighted

    def create_accumulator(self) -> float:
        return 0.0

    def add_input(self, accumulator: float, element: Any) -> float:
        extracts = getattr(element, "extracts", element)
        found = standard(extracts, constants.EXAMPLE_WEIGHTS_KEY)
        weights = column(lookup(found, self._keys, required=False))
        if weights is None:
            raise ValueError(
                f"example_count of {self._keys} on whole batches needs the head's "
                f"example weights, one per row; got {type(found).__name__}"
            )
        return accumulator + (float(np.sum(weights)) if self._weighted else float(len(weights)))

    def merge_accumulators(self, accumulators) -> float:
        return float(sum(accumulators))

    def extract_output(self, accumulator: float) -> Any:
        return self._inner.extract_output(accumulator)
