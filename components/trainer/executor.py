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
from trainer_module.compose import compose
from trainer_module.freeze import check_frozen
from trainer_module.spec import ModelSpec

# Where the trained heads are exported before the frozen ones join them.
TRAINED_SUFFIX = "-trained"


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
    """Runs trainer_module.run.run_fn on the raw examples and the transform graph."""

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
        base_model_dir = _base_model_dir(input_dict)
        # Before any training: a frozen head must be servable from the served model.
        check_frozen(model_spec, base_model_dir, "the served model")
        trained_dir = serving_dir + TRAINED_SUFFIX if model_spec.frozen else serving_dir
        report = run_fn(
            TrainerArgs(
                spec=model_spec,
                examples_uri=examples.uri,
                transform_graph_uri=transform_graph.uri,
                serving_model_dir=trained_dir,
                model_run_dir=model_run.uri,
                base_model_dir=base_model_dir,
            )
        )
        if not report["distribute"]["chief"]:
            # Another worker of a multi-worker run: the chief writes the outputs.
            logging.info("MultiHeadTrainer: not the chief worker; the chief writes the model")
            return
        if model_spec.frozen:
            # The frozen heads come from the served model, bit for bit.
            compose(trained_dir, base_model_dir, model_spec.frozen, serving_dir, "the served model")
            fileio.rmtree(trained_dir)
            logging.info("frozen heads %s served from %s", model_spec.frozen, base_model_dir)
        if not fileio.exists(os.path.join(serving_dir, SAVED_MODEL_FILE)):
            raise RuntimeError(f"training finished but no SavedModel is at {serving_dir}")
        fileio.makedirs(model.uri)
        with fileio.open(os.path.join(model.uri, spec.REPORT_FILE), "w") as f:
            f.write(json.dumps(report, indent=2, sort_keys=True))
        if report["warm_start"] is not None:
            model.set_string_custom_property(
                properties.WARM_START, json.dumps(report["warm_start"])
            )
        model.set_string_custom_property(
            properties.TRAINING,
            json.dumps({k: report[k] for k in ("early_stopping", "frozen", "validation", "steps")}),
        )
