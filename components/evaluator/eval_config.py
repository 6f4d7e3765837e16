"""The TFMA EvalConfig of a head config: labels, weights, metrics, thresholds."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from pipeline.config import METRICS, PipelineConfig, Threshold
from trainer_module.export import SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from trainer_module.model import evaluated_output


def _threshold(threshold: Threshold) -> tfma.MetricThreshold:
    bounds = {}
    if threshold.lower is not None:
        bounds["lower_bound"] = {"value": threshold.lower}
    if threshold.upper is not None:
        bounds["upper_bound"] = {"value": threshold.upper}
    return tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(**bounds))


def build_eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """One ModelSpec for the multi-output model, one MetricsSpec per head.

    Labels and label weights are outputs of the transform, so TFMA runs the
    `transform_features` signature first; a row whose label is missing has
    weight 0 and counts in no metric of that head.
    """
    outputs = {head.name: evaluated_output(head) for head in config.heads}
    model_spec = tfma.ModelSpec(
        signature_name=SERVING_SIGNATURE,
        preprocessing_function_names=[TRANSFORM_SIGNATURE],
        label_keys={outputs[h.name]: h.label_key for h in config.heads},
        example_weight_keys={outputs[h.name]: h.weight_key for h in config.heads},
    )
    metrics_specs = []
    for head in config.heads:
        metrics = []
        for metric in head.metrics:
            metric_config = tfma.MetricConfig(class_name=METRICS[head.task][metric])
            if metric in head.thresholds:
                metric_config.threshold.CopyFrom(_threshold(head.thresholds[metric]))
            metrics.append(metric_config)
        metrics_specs.append(tfma.MetricsSpec(output_names=[outputs[head.name]], metrics=metrics))
    return tfma.EvalConfig(
        model_specs=[model_spec],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=metrics_specs,
    )
