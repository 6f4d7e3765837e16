"""The TFMA EvalConfig of an evaluation spec: labels, weights, metrics, thresholds."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from components.evaluator import batched_metrics, jackknife
from components.evaluator.gates import EvaluationSpec, HeadGates, Threshold
from trainer_module.signatures import SERVING_SIGNATURE, TRANSFORM_SIGNATURE

CANDIDATE = "candidate"
BASELINE = "baseline"
# Each head's count of labelled examples (weighted: a missing label weighs 0),
# computed on every slice so that `min_examples` can be applied; and a binary
# head's mean label, which says whether a slice holds both classes.
EXAMPLE_COUNT = "example_count"
MEAN_LABEL = "mean_label"


def _threshold(
    head: HeadGates, metric: str, threshold: Threshold, with_change: bool
) -> tfma.MetricThreshold:
    result = tfma.MetricThreshold()
    bounds = {}
    if threshold.lower is not None:
        bounds["lower_bound"] = {"value": threshold.lower}
    if threshold.upper is not None:
        bounds["upper_bound"] = {"value": threshold.upper}
    if bounds:
        result.value_threshold.CopyFrom(tfma.GenericValueThreshold(**bounds))
    if with_change and threshold.has_change:
        higher = head.higher_is_better(metric)
        change = tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER
            if higher
            else tfma.MetricDirection.LOWER_IS_BETTER
        )
        sign = -1.0 if higher else 1.0
        if threshold.max_worse is not None:
            change.absolute.value = sign * threshold.max_worse
        if threshold.max_worse_relative is not None:
            change.relative.value = sign * threshold.max_worse_relative
        result.change_threshold.CopyFrom(change)
    return result


def is_single_output(spec: EvaluationSpec) -> bool:
    """TFMA sees a model with one output as a single-output model: its label,
    weight and metrics are then not keyed by output name."""
    return len(spec.heads) == 1 and spec.heads[0].output == spec.heads[0].name


def _whole_batches(spec: EvaluationSpec) -> bool:
    """Whether every metric of every head has a batched class."""
    return all(
        head.tfma_class(metric) in batched_metrics.BATCHED
        for head in spec.heads
        for metric in head.metrics
    )


def build_eval_config(spec: EvaluationSpec, with_baseline: bool = False) -> tfma.EvalConfig:
    """One ModelSpec per model (candidate, and the served one as baseline),
    one MetricsSpec per head.

    Labels and label weights are outputs of the transform, so TFMA runs the
    `transform_features` signature first; a row whose label is missing has
    weight 0 and counts in no metric of that head.

    With the served model as baseline and a confidence level, TFMA computes
    jackknife intervals (20 buckets of the eval examples); a diff metric's
    interval is then paired: each bucket's diff comes from both models'
    predictions on the same examples. The change bounds are judged on it
    (verdicts.py), not by TFMA's point-estimate change thresholds.

    Where every metric has a batched class, the metrics take whole batches
    (batched_metrics.py): the eval split is then never split into
    examples, only its batches into their slices; under intervals, each
    slice's rows into random chunks of the whole split, so that TFMA's
    jackknife, which draws a bucket per extract, still draws one per row
    in effect (unbatch.py). Under intervals, the last metrics spec keeps
    the private intermediates out of the jackknife's samples (jackknife.py).
    """
    intervals = spec.confidence is not None and (with_baseline or spec.has_slice_bounds)
    single = is_single_output(spec)
    whole_batches = _whole_batches(spec)

    def model_spec(name: str, is_baseline: bool) -> tfma.ModelSpec:
        model = tfma.ModelSpec(
            name=name,
            is_baseline=is_baseline,
            signature_name=SERVING_SIGNATURE,
            preprocessing_function_names=[TRANSFORM_SIGNATURE],
        )
        if single:
            model.label_key = spec.heads[0].label_key
            model.example_weight_key = spec.heads[0].weight_key
        else:
            model.label_keys.update({h.output: h.label_key for h in spec.heads})
            model.example_weight_keys.update({h.output: h.weight_key for h in spec.heads})
        return model

    model_specs = [model_spec(CANDIDATE, False)]
    if with_baseline:
        model_specs.append(model_spec(BASELINE, True))
    metrics_specs = []
    for head in spec.heads:
        metrics = []
        counted = list(head.metrics)
        if spec.slices and EXAMPLE_COUNT not in counted:
            counted.append(EXAMPLE_COUNT)
        for metric in counted:
            metric_config = batched_metrics.metric_config(
                head.tfma_class(metric), metric, whole_batches
            )
            if metric in head.thresholds:
                threshold = _threshold(
                    head, metric, head.thresholds[metric], with_baseline and not intervals
                )
                if threshold.ByteSize():
                    metric_config.per_slice_thresholds.add(
                        slicing_specs=[tfma.SlicingSpec()]
                        + [tfma.SlicingSpec(feature_keys=columns) for columns in spec.slices],
                        threshold=threshold,
                    )
            metrics.append(metric_config)
        if spec.slices and any(head.needs_both_classes(m) for m in head.metrics):
            metrics.append(batched_metrics.metric_config("MeanLabel", MEAN_LABEL, whole_batches))
        output_names = [] if single else [head.output]
        metrics_specs.append(tfma.MetricsSpec(output_names=output_names, metrics=metrics))
    options = tfma.Options()
    if intervals:
        metrics_specs.append(tfma.MetricsSpec(metrics=[jackknife.metric_config()]))
        options.compute_confidence_intervals.value = True
        options.confidence_intervals.method = tfma.ConfidenceIntervalOptions.JACKKNIFE
    return tfma.EvalConfig(
        model_specs=model_specs,
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=columns) for columns in spec.slices],
        metrics_specs=metrics_specs,
        options=options,
    )
