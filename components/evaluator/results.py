"""Running TFMA and reading its results back: metrics, diffs, failed validations."""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tfx_bsl.public import tfxio

from components.evaluator.eval_config import is_single_output
from components.evaluator.gates import EvaluationSpec
from components.evaluator.verdicts import Change


def _value(metric_value) -> float:
    kind = metric_value.WhichOneof("type")
    if kind == "double_value":
        return metric_value.double_value.value
    if kind == "bounded_value":
        return metric_value.bounded_value.value.value
    return float("nan")


def read_metrics(output_path: str) -> dict[str, dict[str, dict[str, float]]]:
    """Overall-slice metrics by model name, model output name, metric name."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for metrics_for_slice in tfma.load_metrics(output_path):
        if metrics_for_slice.slice_key.single_slice_keys:
            continue
        for item in metrics_for_slice.metric_keys_and_values:
            key = item.key
            if key.HasField("sub_key") or key.is_diff:
                continue
            by_output = result.setdefault(key.model_name, {})
            by_output.setdefault(key.output_name, {})[key.name] = _value(item.value)
    return result


def read_changes(output_path: str) -> dict[str, dict[str, Change]]:
    """Diff metrics (candidate - baseline, overall slice) by output and metric
    name, with their confidence interval's standard error when TFMA gave one."""
    result: dict[str, dict[str, Change]] = {}
    for metrics_for_slice in tfma.load_metrics(output_path):
        if metrics_for_slice.slice_key.single_slice_keys:
            continue
        for item in metrics_for_slice.metric_keys_and_values:
            key = item.key
            if key.HasField("sub_key") or not key.is_diff:
                continue
            change = Change(_value(item.value))
            if item.HasField("confidence_interval"):
                interval = item.confidence_interval
                change = Change(
                    change.diff,
                    _value(interval.standard_error),
                    interval.degrees_of_freedom.value or None,
                )
            result.setdefault(key.output_name, {})[key.name] = change
    return result


def by_output(values: dict, evaluation: EvaluationSpec) -> dict:
    """Keys TFMA's '' (a single-output model) by the head's output name."""
    if "" in values and is_single_output(evaluation):
        values = {**values, evaluation.heads[0].output: values[""]}
    return values


def read_failures(output_path: str) -> dict[str, set[str]]:
    """Failed metric names by model output name (overall slice)."""
    result: dict[str, set[str]] = {}
    validation = tfma.load_validation_result(output_path)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            result.setdefault(failure.metric_key.output_name, set()).add(failure.metric_key.name)
    return result


def run_tfma(
    pipeline, pattern: str, models: list, eval_config: tfma.EvalConfig, output_path: str
) -> None:
    source = tfxio.TFExampleRecord(
        file_pattern=pattern, raw_record_column_name=tfma.ARROW_INPUT_COLUMN
    )
    _ = (
        pipeline
        | "ReadExamples" >> source.BeamSource()
        | "Evaluate"
        >> tfma.ExtractEvaluateAndWriteResults(
            eval_shared_model=models if len(models) > 1 else models[0],
            eval_config=eval_config,
            output_path=output_path,
        )
    )
