"""What TFMA's jackknife samples: the metrics it reports, not their private
intermediates.

TFMA's jackknife (20 delete-d samples per slice) keeps every structured or
array value of each sample and takes the mean and standard deviation of
each, in Python, including the private intermediates it drops right after:
an AUC's 10,000-threshold confusion matrices. On a sliced evaluation that
was most of the run, a fixed cost per slice, model and head (77 of 131 s
profiled on 4,978 eval rows and 31 slices).

`KeepPrivateOutOfSamples` is a metric with one derived computation that
runs after every other one (it is the eval config's last metric): it wraps
each private structured value in `Private`, which the jackknife's sampler
skips as it skips any value that is not a number. Every metric derived
from them was computed before, in each sample as in the full one, so the
reported metrics and their standard errors are unchanged; the private
values are dropped by TFMA at the end, as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.api import types
from tensorflow_model_analysis.evaluators import (
    metrics_plots_and_validations_evaluator as tfma_evaluator,
)
from tensorflow_model_analysis.metrics import metric_types

# The metric's name: private (a leading underscore), so TFMA drops its key.
NAME = "_private_values_out_of_jackknife_samples"


class Private:
    """A private intermediate value, opaque to the jackknife's sampler."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Private({type(self.value).__name__})"


def _sampled(value: Any) -> bool:
    """Whether the jackknife would sample the value (a structured value or
    a numeric array; plain numbers are cheap and left as they are)."""
    if isinstance(value, types.StructuredMetricValue):
        return True
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.number)


def _keep_private_out(
    metrics: dict[metric_types.MetricKey, Any],
) -> dict[metric_types.MetricKey, Any]:
    # TFMA's own rule for what is private (and dropped at the end)
    private = tfma_evaluator._is_private_metrics
    return {
        key: Private(value) for key, value in metrics.items() if private(key) and _sampled(value)
    }


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
