"""Executor of MultiHeadEvaluator: TFMA on Beam, then per-head verdicts."""

from __future__ import annotations

import json
import os
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow_model_analysis as tfma  # noqa: E402
from absl import logging  # noqa: E402
from tfx import types  # noqa: E402
from tfx.dsl.components.base import base_beam_executor  # noqa: E402
from tfx.dsl.io import fileio  # noqa: E402
from tfx.types import artifact_utils  # noqa: E402
from tfx.utils import io_utils, path_utils  # noqa: E402
from tfx_bsl.public import tfxio  # noqa: E402

from components.evaluator import spec  # noqa: E402
from components.evaluator.eval_config import build_eval_config  # noqa: E402
from components.evaluator.verdicts import is_blessed, verdicts  # noqa: E402
from pipeline.config import PipelineConfig  # noqa: E402

EVAL_SPLIT = "eval"


def _value(metric_value) -> float:
    kind = metric_value.WhichOneof("type")
    if kind == "double_value":
        return metric_value.double_value.value
    if kind == "bounded_value":
        return metric_value.bounded_value.value.value
    return float("nan")


def read_metrics(output_path: str) -> dict[str, dict[str, float]]:
    """Overall-slice metrics by model output name, then metric name."""
    result: dict[str, dict[str, float]] = {}
    for metrics_for_slice in tfma.load_metrics(output_path):
        if metrics_for_slice.slice_key.single_slice_keys:
            continue
        for item in metrics_for_slice.metric_keys_and_values:
            if item.key.HasField("sub_key") or item.key.is_diff:
                continue
            result.setdefault(item.key.output_name, {})[item.key.name] = _value(item.value)
    return result


def read_failures(output_path: str) -> dict[str, set[str]]:
    """Failed metric names by model output name (overall slice)."""
    result: dict[str, set[str]] = {}
    validation = tfma.load_validation_result(output_path)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            result.setdefault(failure.metric_key.output_name, set()).add(failure.metric_key.name)
    return result


class Executor(base_beam_executor.BaseBeamExecutor):
    """Runs TFMA with the EvalConfig built from the heads; writes a blessing."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        config = PipelineConfig.from_json(exec_properties[spec.CONFIG_KEY])
        examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
        model = artifact_utils.get_single_instance(input_dict[spec.MODEL_KEY])
        evaluation = artifact_utils.get_single_instance(output_dict[spec.EVALUATION_KEY])
        blessing = artifact_utils.get_single_instance(output_dict[spec.BLESSING_KEY])
        model_path = path_utils.serving_model_path(model.uri)
        eval_config = build_eval_config(config)
        pattern = io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], EVAL_SPLIT))
        logging.info("MultiHeadEvaluator: model %s on %s", model_path, pattern)

        shared_model = tfma.default_eval_shared_model(
            eval_saved_model_path=model_path, eval_config=eval_config
        )
        source = tfxio.TFExampleRecord(
            file_pattern=pattern, raw_record_column_name=tfma.ARROW_INPUT_COLUMN
        )
        with self._make_beam_pipeline() as pipeline:
            _ = (
                pipeline
                | "ReadExamples" >> source.BeamSource()
                | "Evaluate"
                >> tfma.ExtractEvaluateAndWriteResults(
                    eval_shared_model=shared_model,
                    eval_config=eval_config,
                    output_path=evaluation.uri,
                )
            )

        head_verdicts = verdicts(
            config, read_metrics(evaluation.uri), read_failures(evaluation.uri)
        )
        blessed = is_blessed(config, head_verdicts)
        for verdict in head_verdicts.values():
            for reason in verdict["reasons"]:
                logging.info("verdict: %s", reason)
        text = json.dumps(head_verdicts, indent=2, sort_keys=True)
        fileio.makedirs(blessing.uri)  # a KFP launcher does not create it
        with fileio.open(os.path.join(blessing.uri, spec.VERDICTS_FILE), "w") as f:
            f.write(text)
        marker = "BLESSED" if blessed else "NOT_BLESSED"
        with fileio.open(os.path.join(blessing.uri, marker), "w") as f:
            f.write("")
        blessing.set_int_custom_property(spec.BLESSED_PROPERTY, int(blessed))
        blessing.set_string_custom_property(spec.VERDICTS_PROPERTY, text)
        blessing.set_string_custom_property("current_model", model.uri)
        blessing.set_int_custom_property("current_model_id", model.id)
