"""Executor of MultiHeadEvaluator: TFMA on Beam, then per-head verdicts."""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components import properties
from components.beam_costs import lighten_beam
from components.constants import CONFIG_KEY
from components.evaluator import holdout, spec
from components.evaluator.degenerate import degenerate_heads
from components.evaluator.eval_config import BASELINE, CANDIDATE, build_eval_config
from components.evaluator.gates import EvaluationSpec
from components.evaluator.models import shared_model
from components.evaluator.release import plan
from components.evaluator.results import (
    OVERALL,
    SliceResults,
    by_output,
    model_outputs,
    read_failures,
    read_results,
    run_tfma,
)
from components.evaluator.slices import check_slices
from components.evaluator.verdicts import verdicts
from trainer_module.part_info import read_parts

EVAL_SPLIT = "eval"


def _served_model(input_dict: dict[str, list[types.Artifact]]) -> types.Artifact | None:
    artifacts = input_dict.get(spec.BASELINE_MODEL_KEY) or []
    if artifacts and properties.is_found(artifacts[0]):
        return artifacts[0]
    return None


def _write_blessing(
    blessing: types.Artifact,
    head_verdicts: dict[str, Any],
    blessed: bool,
    release: dict[str, Any],
    model: types.Artifact,
    examples: types.Artifact,
    served: types.Artifact | None,
) -> None:
    """The verdicts file, the BLESSED / NOT_BLESSED marker and the properties."""
    text = json.dumps(head_verdicts, indent=2, sort_keys=True)
    fileio.makedirs(blessing.uri)  # a KFP launcher does not create it
    with fileio.open(os.path.join(blessing.uri, spec.VERDICTS_FILE), "w") as f:
        f.write(text)
    marker = "BLESSED" if blessed else "NOT_BLESSED"
    with fileio.open(os.path.join(blessing.uri, marker), "w") as f:
        f.write("")
    blessing.set_int_custom_property(properties.BLESSED, int(blessed))
    blessing.set_string_custom_property(properties.VERDICTS, text)
    blessing.set_string_custom_property(properties.RELEASE, json.dumps(release, sort_keys=True))
    blessing.set_string_custom_property(properties.CURRENT_MODEL, model.uri)
    blessing.set_string_custom_property(properties.EVALUATED_ON, examples.uri)
    if served is not None:
        blessing.set_string_custom_property(properties.BASELINE_MODEL, served.uri)


class Executor(base_beam_executor.BaseBeamExecutor):
    """Runs TFMA with the EvalConfig built from the heads; writes a blessing."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        lighten_beam()
        gates = EvaluationSpec.from_json(exec_properties[CONFIG_KEY])
        examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
        model = artifact_utils.get_single_instance(input_dict[spec.MODEL_KEY])
        evaluation = artifact_utils.get_single_instance(output_dict[spec.EVALUATION_KEY])
        blessing = artifact_utils.get_single_instance(output_dict[spec.BLESSING_KEY])
        model_path = path_utils.serving_model_path(model.uri)
        served = _served_model(input_dict)
        compared = served if gates.compare else None
        eval_config = build_eval_config(gates, with_baseline=compared is not None)
        pattern = io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], EVAL_SPLIT))
        logging.info("MultiHeadEvaluator: model %s on %s", model_path, pattern)

        models = [shared_model(model_path, CANDIDATE, eval_config)]
        served_version = None
        if served is not None:
            served_version = served.get_int_custom_property(properties.SERVED_VERSION)
        if compared is not None:
            logging.info("comparing with served version %s", served_version)
            served_path = path_utils.serving_model_path(served.uri)
            models.append(shared_model(served_path, BASELINE, eval_config))
        with self._make_beam_pipeline() as pipeline:
            run_tfma(pipeline, pattern, models, eval_config, evaluation.uri)

        files = sorted(fileio.glob(pattern))
        degenerate = degenerate_heads(model_path, files, gates.heads)
        results = read_results(evaluation.uri)
        overall = results.get(OVERALL, SliceResults())
        head_verdicts = verdicts(
            gates,
            model_outputs(overall, CANDIDATE, gates),
            by_output(read_failures(evaluation.uri), gates),
            model_outputs(overall, BASELINE, gates) if compared is not None else None,
            served_version,
            degenerate,
            by_output(overall.changes, gates) if compared is not None else None,
            check_slices(gates, results, served_version),
        )
        if compared is not None:
            holdout.judge(
                self._make_beam_pipeline,
                gates,
                model_path,
                path_utils.serving_model_path(compared.uri),
                served_version,
                examples.uri,
                evaluation.uri,
                head_verdicts,
            )
        served_parts = None
        if served is not None:
            served_parts = read_parts(path_utils.serving_model_path(served.uri))
        blessed, release = plan(
            gates,
            head_verdicts,
            served_version,
            None if served_parts is None else [h for p in served_parts for h in p.heads],
        )
        for verdict in head_verdicts.values():
            for reason in verdict["reasons"]:
                logging.info("verdict: %s", reason)
        for name, head in release["heads"].items():
            logging.info("release: %s from the %s model (%s)", name, head["from"], head["reason"])
        if release["blocked"]:
            logging.warning("release blocked: %s", release["blocked"])
        _write_blessing(blessing, head_verdicts, blessed, release, model, examples, served)
