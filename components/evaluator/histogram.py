"""A calibration histogram's accumulator in numpy arrays.

TFMA's calibration histogram combiner keeps a dict of `Bucket` objects,
one for each bucket an example fell in (up to 10,002 for an AUC's), and
merges them bucket by bucket in Python. Under jackknife intervals each
slice has 20 of them, each merged into 19 samples, and Beam pickles every
one between stages, an object per bucket, while it holds them all (a full
AUC histogram is megabytes of Python objects). `Sums` keeps the ids of
the buckets examples fell in, sorted, and each one's weighted labels,
predictions and examples in one array. Adding and merging add bucket by
bucket in TFMA's order (what is there, then what comes), and the
histogram given out is TFMA's list of buckets, sorted by id.
"""

from __future__ import annotations

import numpy as np
from tensorflow_model_analysis.metrics import calibration_histogram


class Sums:
    """The buckets examples fell in (`ids`, sorted) and each one's weighted
    labels, predictions and examples (`values`, 3 rows)."""

    __slots__ = ("ids", "values")

    def __init__(self, ids: np.ndarray | None = None, values: np.ndarray | None = None) -> None:
        self.ids = np.zeros(0, np.int64) if ids is None else ids
        self.values = np.zeros((3, 0), np.float64) if values is None else values


def added(into: Sums, other: Sums) -> Sums:
    """`into` with `other` added, bucket by bucket."""
    if not len(other.ids):
        return into
    if np.array_equal(into.ids, other.ids):
        into.values += other.values
        return into
    ids = np.union1d(into.ids, other.ids)
    values = np.zeros((3, len(ids)), np.float64)
    values[:, np.searchsorted(ids, into.ids)] = into.values
    values[:, np.searchsorted(ids, other.ids)] += other.values
    return Sums(ids, values)


def of_rows(
    buckets: np.ndarray, labels: np.ndarray, predictions: np.ndarray, examples: np.ndarray
) -> Sums:
    """The sums of rows falling in `buckets` (one bucket id per row) with
    the given weighted labels, predictions and examples."""
    if not len(buckets):
        return Sums()
    ids, inverse = np.unique(buckets, return_inverse=True)
    values = np.stack(
        [
            np.bincount(inverse, weights=w, minlength=len(ids))
            for w in (labels, predictions, examples)
        ]
    )
    return Sums(ids, values.astype(np.float64, copy=False))


def of_tfma(accumulator: dict[int, calibration_histogram.Bucket]) -> Sums:
    """TFMA's own accumulator (a dict of buckets by id) as sums."""
    found = sorted(accumulator.values(), key=lambda bucket: bucket.bucket_id)
    ids = np.array([b.bucket_id for b in found], np.int64)
    values = np.array(
        [[b.weighted_labels, b.weighted_predictions, b.weighted_examples] for b in found],
        np.float64,
    ).reshape(len(found), 3)
    return Sums(ids, values.T.copy())


def histogram(sums: Sums) -> calibration_histogram.Histogram:
    """TFMA's histogram: its buckets, sorted by id."""
    labels, predictions, examples = sums.values.tolist()
    return [
        calibration_histogram.Bucket(bucket, label, prediction, example)
        for bucket, label, prediction, example in zip(
            sums.ids.tolist(), labels, predictions, examples, strict=True
        )
    ]
