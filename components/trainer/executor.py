"""Executor of MultiHeadTrainer."""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components import properties
from components.anomalies import check_anomalies
from components.constants import CONFIG_KEY
from components.serving import SAVED_MODEL_FILE
from components.trainer import spec
from trainer_module.spec import ModelSpec


def _base_model_dir(input_dict: dict[str, list[types.Artifact]]) -> str | None:
    """The served model's SavedModel folder, when the lookup found one."""
    if not input_dict.get(spec.BASE_MODEL_KEY):
        return None
    base = artifact_utils.get_single_instance(input_dict[spec.BASE_MODEL_KEY])
    if not properties.is_found(base):
        logging.info("no served model yet: training from scratch")
        return None
    return path_utils.serving_model_path(base.uri)


class Executor(base_executor.BaseExecutor):
    """Runs trainer_module.run.run_fn on the transformed examples."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        from trainer_module.run import TrainerArgs, run_fn

        model_spec = ModelSpec.from_json(exec_properties[CONFIG_KEY])
        if input_dict.get(spec.ANOMALIES_KEY):
            check_anomalies(artifact_utils.get_single_instance(input_dict[spec.ANOMALIES_KEY]))
        examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
        transform_graph = artifact_utils.get_single_instance(input_dict[spec.TRANSFORM_GRAPH_KEY])
        model = artifact_utils.get_single_instance(output_dict[spec.MODEL_KEY])
        model_run = artifact_utils.get_single_instance(output_dict[spec.MODEL_RUN_KEY])
        serving_dir = path_utils.serving_model_path(model.uri)
        logging.info(
            "MultiHeadTrainer: heads %s, mode %s, examples %s, transform %s -> %s",
            [h.name for h in model_spec.heads],
            model_spec.training.mode,
            examples.uri,
            transform_graph.uri,
            serving_dir,
        )
        report = run_fn(
            TrainerArgs(
                spec=model_spec,
                examples_uri=examples.uri,
                transform_graph_uri=transform_graph.uri,
                serving_model_dir=serving_dir,
                model_run_dir=model_run.uri,
                base_model_dir=_base_model_dir(input_dict),
            )
        )
        if not fileio.exists(os.path.join(serving_dir, SAVED_MODEL_FILE)):
            raise RuntimeError(f"training finished but no SavedModel is at {serving_dir}")
        fileio.makedirs(model.uri)
        with fileio.open(os.path.join(model.uri, spec.REPORT_FILE), "w") as f:
            f.write(json.dumps(report, indent=2, sort_keys=True))
        if report["warm_start"] is not None:
            model.set_string_custom_property(
                properties.WARM_START, json.dumps(report["warm_start"])
            )
