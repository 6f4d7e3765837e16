"""TFMA's jackknife made cheap: every sample of a slice in one Beam stage,
and the samples without their private intermediates.

**Every sample in one stage.** TFMA's jackknife (20 delete-d samples per
slice) builds 20 partitions, each combined per slice, and 21 samples (the
full one and 20 with a partition left out), each a flatten, a combine and
TFMA's derived metrics of its own: about 60 Beam stages, each planned,
pickled, set up and run on its own, a fixed cost whatever the data (on
4,978 eval rows and 31 slices, most of the sliced run's time beyond the
unsliced one's). `samples_in_one_stage()` puts `ComputeWithConfidenceIntervals`
in the place of TFMA's while TFMA builds an evaluation. It draws a bucket per
extract at random as TFMA does, combines each slice and bucket in one
combine, groups a slice's 20 accumulators, and merges in one call the full
sample and each delete-d one, which go through TFMA's derived metrics and
into TFMA's own jackknife combiner. On the same draws, every value and
standard error is TFMA's (tests/test_jackknife.py).

**The samples without their private intermediates.** TFMA's jackknife
keeps every structured or array value of each sample and takes the mean
and standard deviation of each, in Python, including the private
intermediates it drops right after: an AUC's 10,000-threshold confusion
matrices. On a sliced evaluation that was most of the run, a fixed cost
per slice, model and head (77 of 131 s profiled on 4,978 eval rows and 31
slices).

`KeepPrivateOutOfSamples` is a metric with one derived computation that
runs after every other one (it is the eval config's last metric): it puts
`Private`, a marker without the value, in place of each private value,
which the jackknife's sampler skips as it skips any value that is not a
number. Every metric derived from them was computed before, in each
sample as in the full one, so the reported metrics and their standard
errors are unchanged. Nothing reads a private value after the last
derived metric: TFMA's diffs skip private keys, TFMA 0.47 has no metric
derived from the intervals, and TFMA drops the private keys at the end.

Without the values, the jackknife's samples are also small: Beam encodes
each of a slice's 21 samples when they meet in one stage, and an AUC's
calibration histogram (a Python object per bucket, up to 10,002) went
one bucket at a time (benchmark 9, session 19).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.evaluators import jackknife as tfma_jackknife
from tensorflow_model_analysis.evaluators import (
    metrics_plots_and_validations_evaluator as tfma_evaluator,
)
from tensorflow_model_analysis.metrics import metric_types

# The metric's name: private (a leading underscore), so TFMA drops its key.
NAME = "_private_values_out_of_jackknife_samples"


class Private:
    """Where a private intermediate value was (its type's name only)."""

    __slots__ = ("kind",)

    def __init__(self, value: Any) -> None:
        self.kind = type(value).__name__

    def __repr__(self) -> str:
        return f"Private({self.kind})"


def _keep_private_out(
    metrics: dict[metric_types.MetricKey, Any],
) -> dict[metric_types.MetricKey, Any]:
    # TFMA's own rule for what is private (and dropped at the end)
    private = tfma_evaluator._is_private_metrics
    return {key: Private(value) for key, value in metrics.items() if private(key)}


def _computations(
    name: str = NAME, example_weighted: bool = False
) -> metric_types.MetricComputations:
    # `example_weighted`: TFMA passes it where a model has one example
    # weight key (a single-output model), and refuses a metric without it
    del example_weighted  # it derives from other metrics, weighted or not
    return [
        metric_types.DerivedMetricComputation(
            keys=[metric_types.MetricKey(name=name)], result=_keep_private_out
        )
    ]


class KeepPrivateOutOfSamples(tfma.metrics.Metric):
    """Wraps the private structured values once every metric is derived
    (it must be the eval config's last metric)."""

    def __init__(self, name: str = NAME) -> None:
        super().__init__(_computations, name=name)


def metric_config() -> tfma.MetricConfig:
    """The config of the metric: the last one of an eval config whose
    intervals are on."""
    return tfma.MetricConfig(class_name=KeepPrivateOutOfSamples.__name__, module=__name__)


FULL = "full"  # the tag of the full sample's metrics, beside "0".."19"


class _DrawBucket(beam.DoFn):
    """(slice, extract) -> ((slice, bucket), extract), the bucket drawn at
    random as TFMA's jackknife draws its partition (`seed`: its
    `random_seed_for_testing`; None: drawn afresh in each worker)."""

    def __init__(self, buckets: int, seed: int | None) -> None:
        self._buckets = buckets
        self._seed = seed

    def setup(self) -> None:
        self._random = np.random.RandomState(self._seed)

    def process(self, element: tuple[Any, Any]) -> Iterator[tuple[tuple[Any, int], Any]]:
        slice_key, extract = element
        yield (slice_key, int(self._random.randint(self._buckets))), extract


class _Samples(beam.DoFn):
    """A slice's accumulators by bucket -> its full sample's metrics (tag
    FULL) and each delete-d sample's (tag str(bucket)): merged afresh each
    time, so no accumulator of the slice is changed."""

    def __init__(self, combine_fn: beam.CombineFn, buckets: int) -> None:
        self._combine_fn = combine_fn
        self._buckets = buckets

    def setup(self) -> None:
        self._combine_fn.setup()

    def _metrics(self, accumulators: list[Any]) -> metric_types.MetricsDict:
        combine_fn = self._combine_fn
        merged = combine_fn.merge_accumulators([combine_fn.create_accumulator(), *accumulators])
        return combine_fn.extract_output(merged)

    def process(self, element: tuple[Any, Iterable[tuple[int, Any]]]):
        slice_key, found = element
        by_bucket = sorted(found, key=lambda pair: pair[0])
        yield beam.pvalue.TaggedOutput(
            FULL, (slice_key, self._metrics([acc for _, acc in by_bucket]))
        )
        for left_out in range(self._buckets):
            kept = [acc for bucket, acc in by_bucket if bucket != left_out]
            if kept:  # TFMA has no sample where only the left-out bucket held rows
                yield beam.pvalue.TaggedOutput(str(left_out), (slice_key, self._metrics(kept)))


@beam.ptransform_fn
def ComputeWithConfidenceIntervals(  # noqa: N802 - TFMA's name, which it takes the place of
    sliced_extracts: beam.PCollection,
    computations_combine_fn: beam.CombineFn,
    derived_metrics_ptransform: beam.PTransform,
    num_jackknife_samples: int,
    skip_ci_metric_keys: set[metric_types.MetricKey] | None = None,
    random_seed_for_testing: int | None = None,
) -> beam.PCollection:
    """TFMA's `jackknife.ComputeWithConfidenceIntervals` (same arguments, same
    output: (slice key, metrics with their standard errors)), every sample of
    a slice in one stage."""
    buckets = num_jackknife_samples
    tags = [FULL] + [str(bucket) for bucket in range(buckets)]
    samples = (
        sliced_extracts
        | "DrawBuckets" >> beam.ParDo(_DrawBucket(buckets, random_seed_for_testing))
        | "CombinePerSliceAndBucket"
        >> beam.CombinePerKey(tfma_jackknife._AccumulateOnlyCombineFn(computations_combine_fn))
        | "BySlice" >> beam.MapTuple(lambda key, acc: (key[0], (key[1], acc)))
        | "GroupBuckets" >> beam.GroupByKey()
        | "Samples" >> beam.ParDo(_Samples(computations_combine_fn, buckets)).with_outputs(*tags)
    )
    with_ids = []
    for tag in tags:
        sample_id = tfma_jackknife._FULL_SAMPLE_ID if tag == FULL else int(tag)
        with_ids.append(
            samples[tag]
            | f"AddDerivedMetrics[{tag}]" >> derived_metrics_ptransform
            | f"AddSampleId[{tag}]"
            >> beam.MapTuple(tfma_jackknife._add_sample_id, sample_id=sample_id)
        )
    return (
        with_ids
        | "FlattenSamples" >> beam.Flatten()
        | "CombineJackknifeSamplesPerSlice"
        >> beam.CombinePerKey(
            tfma_jackknife._JackknifeSampleCombineFn(buckets, skip_ci_metric_keys)
        )
    )


@contextlib.contextmanager
def samples_in_one_stage() -> Iterator[None]:
    """While TFMA builds an evaluation: its jackknife is this module's."""
    stock = tfma_jackknife.ComputeWithConfidenceIntervals
    tfma_jackknife.ComputeWithConfidenceIntervals = ComputeWithConfidenceIntervals
    try:
        yield
    finally:
        tfma_jackknife.ComputeWithConfidenceIntervals = stock
