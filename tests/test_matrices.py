"""TFMA's binary confusion matrices from a calibration histogram, in numpy:
the same matrices as TFMA's own derived computation, to the bit, on
sparse and dense histograms (the overflow buckets, predictions on the
thresholds, empty ones) and on the thresholds TFMA's metrics use (an AUC's
10,000, one, some at 0, 1 and beyond 1); other computations are left as
they are."""

from __future__ import annotations

import random

import pytest
from apache_beam.internal import pickler
from tensorflow_model_analysis.metrics import (
    binary_confusion_matrices,
    calibration_histogram,
    metric_types,
)

from components.evaluator import batched_metrics, matrices

Bucket = calibration_histogram.Bucket
LAST = calibration_histogram.DEFAULT_NUM_BUCKETS + 1


def _histogram(seed: int, filled: int) -> list:
    """`filled` distinct buckets (the overflow ones, 0 and LAST, among the
    candidates), sorted by id as TFMA's combiner outputs them, with
    fractional labels and weights."""
    rng = random.Random(seed)
    ids = sorted(rng.sample(range(LAST + 1), filled))
    buckets = []
    for bucket_id in ids:
        examples = rng.choice([1.0, 2.5, 0.3, rng.uniform(0, 50)])
        labels = rng.choice([0.0, examples, rng.uniform(0, examples)])
        buckets.append(Bucket(bucket_id, labels, rng.uniform(0, examples), examples))
    return buckets


HISTOGRAMS = {
    "empty": [],
    "one bucket": [Bucket(5001, 1.0, 0.5, 2.0)],
    "overflow buckets only": [Bucket(0, 1.0, -1.0, 1.0), Bucket(LAST, 0.0, 2.0, 3.0)],
    "on the 0.5 threshold": [Bucket(5000, 1.0, 0.4999, 1.0), Bucket(5001, 0.0, 0.5, 1.0)],
    "sparse": _histogram(1, 40),
    "half full": _histogram(2, 5000),
    "full": _histogram(3, LAST + 1),
}
THRESHOLDS = {
    "auc": binary_confusion_matrices._interpolated_thresholds(10000),
    "auc of 200": binary_confusion_matrices._interpolated_thresholds(200),
    "one": [0.5],
    "at 0": [0.0],
    "at 0, 0.5 and 1": [0.0, 0.5, 1.0],
    "negative first": [-0.5, 0.3],
    "beyond 1": [0.2, 1.5],
    "only beyond 1": [1.0 + 2e-7],
}


def _tfma_computations(thresholds: list[float]) -> tuple:
    """TFMA's own matrices-from-histogram derived computation, and the key
    of the histogram it reads."""
    computations = binary_confusion_matrices.binary_confusion_matrices(
        thresholds=thresholds, use_histogram=True, output_name="b", example_weighted=True
    )
    return computations[-1], computations[-2].keys[-1]


def _tfma_derived(thresholds: list[float]) -> metric_types.DerivedMetricComputation:
    return _tfma_computations(thresholds)[0]


@pytest.mark.parametrize("thresholds_name", THRESHOLDS)
@pytest.mark.parametrize("histogram_name", HISTOGRAMS)
def test_the_matrices_are_tfma_s_to_the_bit(histogram_name, thresholds_name):
    thresholds = THRESHOLDS[thresholds_name]
    theirs, histogram_key = _tfma_computations(thresholds)
    metrics = {histogram_key: HISTOGRAMS[histogram_name]}
    ours = matrices.vectorized(theirs)
    assert ours is not theirs and ours.keys == theirs.keys
    (key,) = theirs.keys
    expected, found = theirs.result(metrics)[key], ours.result(metrics)[key]
    assert isinstance(found, binary_confusion_matrices.Matrices)
    for field in expected._fields:
        assert getattr(found, field) == getattr(expected, field), field
        assert all(type(v) is float for v in getattr(found, field)), field


def test_other_computations_are_left_as_they_are():
    auc = batched_metrics.BatchedAUC().computations(output_names=["b"], example_weighted=True)
    derived = [c for c in auc if isinstance(c, metric_types.DerivedMetricComputation)]
    matrices_from_histogram, auc_from_matrices = derived
    assert matrices.vectorized(auc_from_matrices) is auc_from_matrices
    assert matrices_from_histogram.result.__module__ == matrices.__name__
    # top-k's single negative threshold: TFMA reads the histogram as it is
    top_k = _tfma_derived([float("-inf")])
    assert matrices.vectorized(top_k) is top_k
    # the matrices of examples (no histogram)
    counted = binary_confusion_matrices.binary_confusion_matrices(thresholds=[0.5])[-1]
    assert matrices.vectorized(counted) is counted


def test_an_auc_s_computation_keeps_the_count_of_its_thresholds_not_10000_floats():
    # Beam pickles it into every stage deriving metrics (21 per slicing
    # under intervals)
    theirs = _tfma_derived(THRESHOLDS["auc"])
    assert len(pickler.dumps(theirs)) > 50_000
    assert len(pickler.dumps(matrices.vectorized(theirs))) < 4_000
