"""Executor of MultiHeadTrainer."""

from __future__ import annotations

import json
import os
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from absl import logging  # noqa: E402
from tfx import types  # noqa: E402
from tfx.dsl.components.base import base_executor  # noqa: E402
from tfx.dsl.io import fileio  # noqa: E402
from tfx.types import artifact_utils  # noqa: E402
from tfx.utils import path_utils  # noqa: E402

from components.anomalies import check_anomalies  # noqa: E402
from components.served_model.executor import is_found  # noqa: E402
from components.trainer import spec  # noqa: E402
from pipeline.config import PipelineConfig  # noqa: E402

REPORT_FILE = "training_report.json"


class Executor(base_executor.BaseExecutor):
    """Runs trainer_module.run.run_fn on the transformed examples."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        from trainer_module.run import TrainerArgs, run_fn

        config = PipelineConfig.from_json(exec_properties[spec.CONFIG_KEY])
        if input_dict.get(spec.ANOMALIES_KEY):
            check_anomalies(artifact_utils.get_single_instance(input_dict[spec.ANOMALIES_KEY]))
        examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
        transform_graph = artifact_utils.get_single_instance(input_dict[spec.TRANSFORM_GRAPH_KEY])
        model = artifact_utils.get_single_instance(output_dict[spec.MODEL_KEY])
        model_run = artifact_utils.get_single_instance(output_dict[spec.MODEL_RUN_KEY])
        serving_dir = path_utils.serving_model_path(model.uri)
        base_model_dir = None
        if input_dict.get(spec.BASE_MODEL_KEY):
            base = artifact_utils.get_single_instance(input_dict[spec.BASE_MODEL_KEY])
            if is_found(base):
                base_model_dir = path_utils.serving_model_path(base.uri)
            else:
                logging.info("no served model yet: training from scratch")
        logging.info(
            "MultiHeadTrainer: heads %s, mode %s, examples %s, transform %s -> %s",
            [h.name for h in config.heads],
            config.training.mode,
            examples.uri,
            transform_graph.uri,
            serving_dir,
        )
        report = run_fn(
            TrainerArgs(
                config=config,
                examples_uri=examples.uri,
                transform_graph_uri=transform_graph.uri,
                serving_model_dir=serving_dir,
                model_run_dir=model_run.uri,
                base_model_dir=base_model_dir,
            )
        )
        if not fileio.exists(os.path.join(serving_dir, "saved_model.pb")):
            raise RuntimeError(f"training finished but no SavedModel is at {serving_dir}")
        fileio.makedirs(model.uri)
        with fileio.open(os.path.join(model.uri, REPORT_FILE), "w") as f:
            f.write(json.dumps(report, indent=2, sort_keys=True))
        if report["warm_start"] is not None:
            model.set_string_custom_property(
                spec.WARM_START_PROPERTY, json.dumps(report["warm_start"])
            )
