"""Executor of BatchScorer."""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components import serving
from components.beam_costs import lighten_beam
from components.scoring import batch, contract, spec
from components.served_model.executor import served_state

ROWS, REJECTS, SCORED_WITH, NOTE = "rows", "rejects", "scored_with", "note"


def scoring_state(data: str, serving_dir: str) -> str:
    """The data folder's files (names, sizes, times) and what is served: a
    local run's cache key, so new rows or a new version are scored again."""
    listing = []
    for path in contract.input_files(data) if fileio.exists(data) else []:
        stat = fileio.stat(path)
        listing.append(f"{path}:{stat.length}:{stat.mtime_nsec}")
    return json.dumps({"files": listing, "served": served_state(serving_dir)})


def scoring_model(serving_dir: str) -> str | None:
    """The newest served version that loads, after the push: what clients get
    (the model this run pushed, when it pushed one)."""
    version, _ = serving.newest_loadable(serving_dir)
    return None if version is None else serving.version_dir(serving_dir, version)


class Executor(base_beam_executor.BaseBeamExecutor):
    def Do(  # noqa: N802
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        lighten_beam()
        # The pushed model is an input for the order only: the push comes first.
        predictions = artifact_utils.get_single_instance(output_dict[spec.PREDICTIONS_KEY])
        model = scoring_model(exec_properties[spec.SERVING_DIR_KEY])
        if model is None:
            note = f"nothing served under {exec_properties[spec.SERVING_DIR_KEY]}: no predictions"
            logging.warning(note)
            predictions.set_string_custom_property(NOTE, note)
            predictions.set_int_custom_property(ROWS, 0)
            return
        heads = json.loads(exec_properties.get(spec.HEADS_KEY) or "[]")
        keep = json.loads(exec_properties.get(spec.KEEP_KEY) or "[]")
        fmt = exec_properties.get(spec.FORMAT_KEY) or "csv"
        model_contract = contract.read_contract(model, heads or None)
        files = contract.input_files(exec_properties[spec.DATA_KEY])
        output = os.path.join(predictions.uri, f"predictions.{fmt}")
        done = batch.score(files, model_contract, output, keep, self._beam_pipeline_args)
        predictions.set_int_custom_property(ROWS, done.rows)
        predictions.set_int_custom_property(REJECTS, done.rejects)
        predictions.set_string_custom_property(SCORED_WITH, model)
        logging.info("scored %d rows with %s into %s", done.rows, model, output)
