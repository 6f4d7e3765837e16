"""What TFMA's jackknife samples: the metrics it reports, not their private
intermediates.

TFMA's jackknife (20 delete-d samples per slice) keeps every structured or
array value of each sample and takes the mean and standard deviation of
each, in Python, including the private intermediates it drops right after:
an AUC's 10,000-threshold confusion matrices. On a sliced evaluation that
was most of the run, a fixed cost per slice, model and head (77 of 131 s
profiled on 4,978 eval rows and 31 slices).

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

from typing import Any

import tensorflow_model_analysis as tfma
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
