"""TFMA's binary confusion matrices from a calibration histogram, in numpy.

Every binary metric (AUC, precision, recall, accuracy) derives its
confusion matrices from the head's calibration histogram: TFMA rebins the
histogram to the metric's thresholds (10,000 for an AUC) and sums it
cumulatively, in Python loops over every threshold. That runs once per
slice, model and head, and under jackknife intervals once more per sample
(21 times): 23 of 49 s of a sliced evaluation of 4,978 rows under
intervals (benchmark 9).

`vectorized` swaps that derived computation for one doing the same sums
with numpy, in the same order (`np.bincount` and `np.cumsum` add in
sequence, as TFMA's loops do), so the matrices are TFMA's to the bit
(tests/test_matrices.py compares them with TFMA's own on many histograms).
It applies to the histogram path only (not to the single negative
threshold of top-k metrics), and leaves any other computation as it is.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, NamedTuple

import numpy as np
from tensorflow_model_analysis.metrics import (
    binary_confusion_matrices,
    calibration_histogram,
    metric_types,
)

# TFMA's constants, read from TFMA so that they cannot drift.
_EPSILON = binary_confusion_matrices._EPSILON
_NUM_BUCKETS = calibration_histogram.DEFAULT_NUM_BUCKETS


class _Plan(NamedTuple):
    """What the matrices at some thresholds need of them, found once."""

    thresholds: tuple[float, ...]
    bounds: np.ndarray  # the rebinned thresholds but the first, for searchsorted
    size: int  # how many rebinned thresholds
    window: slice  # the rebinned matrices' entries of `thresholds`
    beyond: tuple[int, ...]  # the thresholds at or beyond 1 + epsilon


def _rebin_thresholds(thresholds: tuple[float, ...]) -> list[float]:
    """The thresholds TFMA rebins the histogram to (its comments: the
    histogram's intervals are [start, end), the matrices' (start, end])."""
    rebinned = [t + _EPSILON if t != 0 else t for t in thresholds]
    if thresholds[0] >= 0:
        rebinned = [-_EPSILON] + rebinned
    if thresholds[-1] < 1.0:
        rebinned = rebinned + [1.0 + _EPSILON]
    return rebinned


@functools.lru_cache(maxsize=16)
def _interpolated(count: int) -> tuple[float, ...]:
    return tuple(binary_confusion_matrices._interpolated_thresholds(count))


def _kept(thresholds: list[float]) -> int | tuple[float, ...]:
    """What the derived computation keeps of its thresholds: their count
    where they are TFMA's interpolated ones (an AUC's 10,000), else
    themselves. Beam pickles the computation into every stage that derives
    metrics (21 per slicing under intervals), and 10,000 floats took 19 ms
    each time."""
    count = len(thresholds)
    if count > 2 and tuple(thresholds) == _interpolated(count):
        return count
    return tuple(thresholds)


@functools.lru_cache(maxsize=16)
def _plan(kept: int | tuple[float, ...]) -> _Plan:
    """The plan of the thresholds `kept` stands for (once per process: under
    intervals the matrices are found 21 times per slice, model and head)."""
    thresholds = _interpolated(kept) if isinstance(kept, int) else kept
    rebinned = _rebin_thresholds(thresholds)
    size = len(rebinned)
    offset = 1 if (thresholds[0] >= 0 or len(thresholds) == 1) and size > 1 else 0
    return _Plan(
        thresholds=thresholds,
        bounds=np.asarray(rebinned[1:], np.float64),
        size=size,
        window=slice(offset, offset + len(thresholds)),
        beyond=tuple(i for i, t in enumerate(thresholds) if t >= 1.0 + _EPSILON),
    )


def rebinned(
    plan: _Plan, histogram: calibration_histogram.Histogram
) -> tuple[np.ndarray, np.ndarray]:
    """calibration_histogram.rebin's weighted labels and examples per new
    bucket (one per rebinned threshold; a bucket's values are in the bucket
    of the last threshold at or below its prediction, the first if none is)."""
    ids = np.fromiter((b.bucket_id for b in histogram), np.int64, len(histogram))
    labels = np.fromiter((b.weighted_labels for b in histogram), np.float64, len(histogram))
    examples = np.fromiter((b.weighted_examples for b in histogram), np.float64, len(histogram))
    predictions = (ids - 1) / _NUM_BUCKETS * (1.0 - 0.0) + 0.0
    predictions[ids == 0] = -np.inf
    predictions[ids >= _NUM_BUCKETS + 1] = np.inf
    bins = np.searchsorted(plan.bounds, predictions, side="right")
    # (float64 even with no bucket, where bincount gives integers)
    return (
        np.bincount(bins, weights=labels, minlength=plan.size).astype(np.float64, copy=False),
        np.bincount(bins, weights=examples, minlength=plan.size).astype(np.float64, copy=False),
    )


def to_matrices(
    plan: _Plan, histogram: calibration_histogram.Histogram
) -> binary_confusion_matrices.Matrices:
    """TFMA's matrices at the plan's thresholds from the histogram (its
    derived computation's histogram path)."""
    positive, examples = rebinned(plan, histogram)
    negative = examples - positive
    tp = np.cumsum(positive[::-1])[::-1]
    fp = np.cumsum(negative[::-1])[::-1]
    fn = np.concatenate([[0.0], np.cumsum(positive[:-1])])
    tn = np.concatenate([[0.0], np.cumsum(negative[:-1])])
    tp, fp, tn, fn = (values[plan.window].tolist() for values in (tp, fp, tn, fn))
    for index in plan.beyond:  # in TFMA's order: tp[0] may be zeroed first
        tp[index] = 0.0
        fp[index] = 0.0
        fn[index] = tp[0]
        tn[index] = fp[0]
    return binary_confusion_matrices.Matrices(list(plan.thresholds), tp, tn, fp, fn)


def _histogram_path(computation: Any) -> dict[str, Any] | None:
    """The closure of TFMA's matrices-from-histogram derived computation,
    or None for any other computation."""
    result = computation.result
    if getattr(result, "__module__", None) != binary_confusion_matrices.__name__:
        return None
    if result.__qualname__ != "binary_confusion_matrices.<locals>.result":
        return None
    found = inspect.getclosurevars(result).nonlocals
    needed = {"use_histogram", "thresholds", "input_metric_key", "matrices_key"}
    if not needed <= found.keys() or not found["use_histogram"]:
        return None
    thresholds = list(found["thresholds"])
    if not thresholds or (len(thresholds) == 1 and thresholds[0] < 0):
        return None
    if computation.keys != [found["matrices_key"]]:
        return None
    return found


def vectorized(computation: Any) -> Any:
    """TFMA's derived computation of matrices from a histogram, done with
    numpy; any other computation as it is."""
    if not isinstance(computation, metric_types.DerivedMetricComputation):
        return computation
    found = _histogram_path(computation)
    if found is None:
        return computation
    kept = _kept(list(found["thresholds"]))
    histogram_key, matrices_key = found["input_metric_key"], found["matrices_key"]

    def result(metrics: dict) -> dict:
        return {matrices_key: to_matrices(_plan(kept), metrics[histogram_key])}

    # Same keys: TFMA still finds it a duplicate of TFMA's own (a metric
    # not batched) and computes it once.
    return computation._replace(result=result)
