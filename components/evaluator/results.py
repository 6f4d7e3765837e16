"""Running TFMA and reading its results back: metrics, diffs, failed validations."""

from __future__ import annotations

import dataclasses
from typing import Any

import apache_beam as beam
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.constants import (
    FEATURES_KEY,
    INPUT_KEY,
    TRANSFORMED_FEATURES_KEY,
)
from tfx_bsl.public import tfxio

from components.evaluator import batched_metrics, jackknife, unbatch
from components.evaluator.eval_config import CANDIDATE, is_single_output
from components.evaluator.gates import EvaluationSpec
from components.evaluator.verdicts import Estimate


def _value(metric_value) -> float:
    kind = metric_value.WhichOneof("type")
    if kind == "double_value":
        return metric_value.double_value.value
    if kind == "bounded_value":
        return metric_value.bounded_value.value.value
    return float("nan")


# A slice: (column, value) pairs, () for the whole split.
SliceKey = tuple[tuple[str, Any], ...]
OVERALL: SliceKey = ()


@dataclasses.dataclass
class SliceResults:
    """One slice's metrics by model name, output name and metric name; its
    diffs (candidate - baseline) by output and metric name; and, where TFMA
    computed intervals, each metric with its standard error (`estimates`,
    keyed as `metrics`; the diffs carry theirs)."""

    metrics: dict[str, dict[str, dict[str, float]]] = dataclasses.field(default_factory=dict)
    changes: dict[str, dict[str, Estimate]] = dataclasses.field(default_factory=dict)
    estimates: dict[str, dict[str, dict[str, Estimate]]] = dataclasses.field(default_factory=dict)


def slice_key(proto) -> SliceKey:
    """TFMA's slice key as (column, value) pairs; byte strings decoded."""
    pairs = []
    for single in proto.single_slice_keys:
        value = getattr(single, single.WhichOneof("kind"))
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        pairs.append((single.column, value))
    return tuple(pairs)


def read_results(output_path: str) -> dict[SliceKey, SliceResults]:
    """Every slice's metrics and diffs, from TFMA's output at `output_path`."""
    result: dict[SliceKey, SliceResults] = {}
    for metrics_for_slice in tfma.load_metrics(output_path):
        found = result.setdefault(slice_key(metrics_for_slice.slice_key), SliceResults())
        for item in metrics_for_slice.metric_keys_and_values:
            key = item.key
            if key.HasField("sub_key"):
                continue
            estimate = Estimate(_value(item.value))
            if item.HasField("confidence_interval"):
                interval = item.confidence_interval
                estimate = Estimate(
                    estimate.value,
                    _value(interval.standard_error),
                    interval.degrees_of_freedom.value or None,
                )
            if key.is_diff:
                found.changes.setdefault(key.output_name, {})[key.name] = estimate
                continue
            by_output = found.metrics.setdefault(key.model_name, {})
            by_output.setdefault(key.output_name, {})[key.name] = estimate.value
            if estimate.std_error is not None:
                by_model = found.estimates.setdefault(key.model_name, {})
                by_model.setdefault(key.output_name, {})[key.name] = estimate
    return result


def by_output(values: dict, evaluation: EvaluationSpec) -> dict:
    """Keys TFMA's '' (a single-output model) by the head's output name."""
    if "" in values and is_single_output(evaluation):
        values = {**values, evaluation.heads[0].output: values[""]}
    return values


def model_outputs(
    found: SliceResults, model: str, evaluation: EvaluationSpec, estimates: bool = False
) -> dict[str, dict[str, Any]]:
    """One model's metrics on one slice by head output (their estimates with
    standard errors, with `estimates`). With one model, TFMA leaves the
    model name out of the metric keys."""
    table = found.estimates if estimates else found.metrics
    values = table.get(model)
    if values is None and model == CANDIDATE:
        values = table.get("")
    return by_output(values or {}, evaluation)


def read_failures(output_path: str) -> dict[str, set[str]]:
    """Failed metric names by model output name (overall slice)."""
    result: dict[str, set[str]] = {}
    validation = tfma.load_validation_result(output_path)
    for per_slice in validation.metric_validations_per_slice:
        if per_slice.slice_key.single_slice_keys:
            continue
        for failure in per_slice.failures:
            result.setdefault(failure.metric_key.output_name, set()).add(failure.metric_key.name)
    return result


_DROPPED = frozenset({TRANSFORMED_FEATURES_KEY, INPUT_KEY})


def _slicing_columns(eval_config: tfma.EvalConfig) -> frozenset[str]:
    return frozenset(
        column
        for spec in eval_config.slicing_specs
        for column in [*spec.feature_keys, *spec.feature_values]
    )


def _what_metrics_read(extract: dict, columns: frozenset[str]) -> dict:
    """The extract without the transform's outputs and the serialized
    example, its raw features cut to the slicing columns."""
    kept = {k: v for k, v in extract.items() if k not in _DROPPED}
    features = extract.get(FEATURES_KEY)
    if isinstance(features, dict):
        kept[FEATURES_KEY] = {k: v for k, v in features.items() if k in columns}
    return kept


@beam.ptransform_fn
def _only_what_metrics_read(extracts: beam.PCollection, columns: frozenset[str]):
    return extracts | "Keep" >> beam.Map(_what_metrics_read, columns)


def _shared(models: list) -> Any:
    """TFMA's eval_shared_model argument: a list of two models, one model, or
    None (predictions read from the examples)."""
    return models if len(models) > 1 else (models[0] if models else None)


def extractors(models: list, eval_config: tfma.EvalConfig) -> list:
    """TFMA's default extractors, with one stage added once labels, weights
    and predictions are extracted, before TFMA splits batches into examples:

    - it drops the transform's outputs: TFMA slices on a transformed
      feature before a raw column of the same name, and ours keep the raw
      names (payment_type would slice by vocabulary index, differently for
      two models with different vocabularies). Slices are then raw values;
    - it drops the serialized examples and every raw column no slicing
      reads: nothing after it reads them.

    and TFMA's split of batches into examples replaced by unbatch.py's; where
    the metrics take whole batches, its split and its slice keys are
    replaced by unbatch.whole_batches.
    """
    found = tfma.default_extractors(eval_shared_model=_shared(models), eval_config=eval_config)
    names = [e.stage_name for e in found]
    at = names.index(tfma.extractors.UnbatchExtractor().stage_name)
    keep = tfma.extractors.Extractor(
        stage_name="KeepWhatMetricsRead",
        ptransform=_only_what_metrics_read(_slicing_columns(eval_config)),
    )
    if not batched_metrics.reads_whole_batches(eval_config):
        return found[:at] + [keep, unbatch.extractor()] + found[at + 1 :]
    slicing = names.index(tfma.extractors.SLICE_KEY_EXTRACTOR_STAGE_NAME)
    if slicing != at + 1:
        raise ValueError(f"TFMA's slice keys stage is not right after its split: {names}")
    return found[:at] + [keep, unbatch.whole_batches(eval_config)] + found[slicing + 1 :]


def run_tfma(
    pipeline, pattern: str, models: list, eval_config: tfma.EvalConfig, output_path: str
) -> None:
    source = tfxio.TFExampleRecord(
        file_pattern=pattern, raw_record_column_name=tfma.ARROW_INPUT_COLUMN
    )
    with jackknife.samples_in_one_stage():  # while TFMA builds its transforms
        _ = (
            pipeline
            | "ReadExamples" >> source.BeamSource()
            | "Evaluate"
            >> tfma.ExtractEvaluateAndWriteResults(
                eval_shared_model=_shared(models),
                eval_config=eval_config,
                extractors=extractors(models, eval_config),
                output_path=output_path,
            )
        )
