"""TFMA's own metrics with their combiners batched (combiners.py).

The metrics here are TFMA's classes (same names, keys, histograms,
confusion matrices, derived metrics and thresholds); only their
computations' combiners are swapped for this project's, which add
examples a batch at a time. A metric configured with `whole_batches`
takes a whole batch of examples (or a group of its rows) as one input:
the evaluator's extracts are then not split into examples (see
`reads_whole_batches` and unbatch.whole_batches).
"""

from __future__ import annotations

import json
from typing import Any

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import (
    binary_confusion_matrices,
    calibration,
    calibration_histogram,
    example_count,
    mean_regression_error,
    metric_types,
    metric_util,
)

from components.evaluator import jackknife, matrices
from components.evaluator.combiners import (
    ConfusionMatrices,
    Count,
    Histogram,
    LabelsPredictionsExamples,
    RegressionError,
)

# The metric config's key saying the metric's inputs are whole batches.
WHOLE_BATCHES = "whole_batches"


def _batched(computation: Any, whole_batches: bool) -> Any:
    """The computation with its combiner batched where that gives TFMA's
    results, TFMA's matrices from a histogram in numpy (matrices.py); else
    as it is (other derived computations among them). With
    `whole_batches`, a computation that cannot be batched is an error: its
    combiner would take a batch for one example."""
    if not isinstance(computation, metric_types.MetricComputation):
        return matrices.vectorized(computation)
    combiner = computation.combiner
    kind = type(combiner)
    batched = None
    if isinstance(combiner, mean_regression_error._MeanRegressionErrorCombiner) and kind in (
        mean_regression_error._MeanAbsoluteErrorCombiner,
        mean_regression_error._MeanSquaredErrorCombiner,
        mean_regression_error._MeanAbsolutePercentageErrorCombiner,
    ):
        key = combiner._metric_key
        if key.sub_key is None and not combiner._class_weights and not combiner._aggregation_type:
            batched = RegressionError(combiner, key, combiner._example_weighted, whole_batches)
    elif kind is calibration_histogram._CalibrationHistogramCombiner:
        key = combiner._key
        simple = key.sub_key is None and not combiner._class_weights
        if (
            simple
            and not combiner._aggregation_type
            and combiner._fractional_labels
            and combiner._prediction_based_bucketing
        ):
            batched = Histogram(combiner, key, combiner._example_weighted, whole_batches)
    elif kind is binary_confusion_matrices._BinaryConfusionMatrixCombiner:
        key = combiner._key
        if (
            key.sub_key is None
            and not combiner._class_weights
            and not combiner._aggregation_type
            and not combiner._example_id_key
            and combiner._enable_fractional_labels
            and combiner._extract_label_prediction_and_weight
            is metric_util.to_label_prediction_example_weight
        ):
            batched = ConfusionMatrices(combiner, key, combiner._example_weighted, whole_batches)
    elif kind is calibration._WeightedLabelsPredictionsExamplesCombiner:
        key = combiner._key
        if key.sub_key is None and not combiner._class_weights and not combiner._aggregation_type:
            batched = LabelsPredictionsExamples(
                combiner, key, combiner._example_weighted, whole_batches
            )
    elif kind is example_count._ExampleCountCombiner:
        if not whole_batches:
            return computation  # TFMA's own, an example at a time
        batched = Count(combiner)
    if batched is None:
        if whole_batches:
            raise ValueError(
                f"{kind.__name__} of {computation.keys} cannot take whole batches; "
                "evaluate this metric on single examples (whole_batches false)"
            )
        return computation
    return computation._replace(combiner=batched)


def _with_batched_combiners(base: type) -> type:
    """A subclass of one of TFMA's metrics whose computations are batched
    (taking whole batches with `whole_batches=True`)."""

    def __init__(self, *args, whole_batches: bool = False, **kwargs) -> None:
        base.__init__(self, *args, **kwargs)
        self.whole_batches = whole_batches

    def get_config(self) -> dict[str, Any]:
        return {**base.get_config(self), WHOLE_BATCHES: self.whole_batches}

    def computations(self, *args, **kwargs) -> metric_types.MetricComputations:
        found = super(cls, self).computations(*args, **kwargs)
        return [_batched(c, self.whole_batches) for c in found]

    name = f"Batched{base.__name__}"
    members = {
        "__init__": __init__,
        "get_config": get_config,
        "computations": computations,
        "__module__": __name__,
    }
    cls = type(name, (base,), members)
    cls.__qualname__ = name
    return cls


BatchedAUC = _with_batched_combiners(tfma.metrics.AUC)
BatchedAUCPrecisionRecall = _with_batched_combiners(tfma.metrics.AUCPrecisionRecall)
BatchedBinaryAccuracy = _with_batched_combiners(tfma.metrics.BinaryAccuracy)
BatchedPrecision = _with_batched_combiners(tfma.metrics.Precision)
BatchedRecall = _with_batched_combiners(tfma.metrics.Recall)
BatchedMeanAbsoluteError = _with_batched_combiners(tfma.metrics.MeanAbsoluteError)
BatchedMeanSquaredError = _with_batched_combiners(tfma.metrics.MeanSquaredError)
BatchedMeanAbsolutePercentageError = _with_batched_combiners(
    tfma.metrics.MeanAbsolutePercentageError
)
BatchedExampleCount = _with_batched_combiners(tfma.metrics.ExampleCount)
BatchedMeanLabel = _with_batched_combiners(tfma.metrics.MeanLabel)

# TFMA's class name -> this module's batched class.
BATCHED = {
    cls.__name__.removeprefix("Batched"): cls
    for cls in (
        BatchedAUC,
        BatchedAUCPrecisionRecall,
        BatchedBinaryAccuracy,
        BatchedPrecision,
        BatchedRecall,
        BatchedMeanAbsoluteError,
        BatchedMeanSquaredError,
        BatchedMeanAbsolutePercentageError,
        BatchedExampleCount,
        BatchedMeanLabel,
    )
}


def metric_config(class_name: str, name: str, whole_batches: bool = False) -> tfma.MetricConfig:
    """TFMA's MetricConfig for one of its metrics, the batched class where
    there is one (the metric keeps its name: its keys are TFMA's), taking
    whole batches with `whole_batches` (every metric must then have one)."""
    batched = BATCHED.get(class_name)
    if batched is None:
        if whole_batches:
            raise ValueError(f"TFMA's {class_name} cannot take whole batches")
        return tfma.MetricConfig(class_name=class_name)
    config = json.dumps({"name": name, WHOLE_BATCHES: whole_batches})[1:-1]
    return tfma.MetricConfig(class_name=batched.__name__, module=__name__, config=config)


def reads_whole_batches(eval_config: tfma.EvalConfig) -> bool:
    """Whether the eval config's metrics take whole batches: all of them or
    none (a metric on single examples would read a batch as one example)."""
    found = {
        bool(json.loads("{" + metric.config + "}").get(WHOLE_BATCHES))
        if metric.module == __name__
        else False
        for spec in eval_config.metrics_specs
        for metric in spec.metrics
        if metric.module != jackknife.__name__  # it reads no example, only derives
    }
    if len(found) > 1:
        raise ValueError(
            "some metrics take whole batches and some single examples; "
            "build the eval config with whole_batches for all or none"
        )
    return found == {True}
