"""Executor of MultiHeadPusher."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components import properties, serving
from components.pusher import spec
from components.pusher.compatibility import incompatibilities


def _refuse(pushed: types.Artifact, reason: str | None) -> None:
    pushed.set_int_custom_property(properties.PUSHED, 0)
    if reason:
        pushed.set_string_custom_property(properties.PUSH_REFUSED, reason)


def _signature_problems(model_dir: str, serving_dir: str) -> list[str]:
    """What the candidate breaks for clients of the served version (none served: []).

    The served version is the newest that loads: TensorFlow Serving keeps
    serving it when a newer one is broken.
    """
    version, skipped = serving.newest_loadable(serving_dir)
    for bad, problem in sorted(skipped.items()):
        logging.warning(
            "served version %d does not load (%s); comparing with %s", bad, problem, version
        )
    if version is None:
        return []
    served = serving.version_dir(serving_dir, version)
    return incompatibilities(served, model_dir, f"served version {version}")


class Executor(base_executor.BaseExecutor):
    """Pushes a blessed, signature-compatible model as the next version."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        model = artifact_utils.get_single_instance(input_dict[spec.MODEL_KEY])
        blessing = artifact_utils.get_single_instance(input_dict[spec.BLESSING_KEY])
        pushed = artifact_utils.get_single_instance(output_dict[spec.PUSHED_MODEL_KEY])
        serving_dir = exec_properties[spec.SERVING_DIR_KEY]
        if not properties.is_blessed(blessing):
            logging.info("model %s is not blessed; nothing pushed", model.uri)
            _refuse(pushed, None)
            return
        model_dir = path_utils.serving_model_path(model.uri)
        problems = _signature_problems(model_dir, serving_dir)
        for problem in problems:
            logging.warning("signature change: %s", problem)
        if problems and not exec_properties.get(spec.ALLOW_SIGNATURE_CHANGE_KEY):
            reason = "not pushed: " + "; ".join(problems)
            logging.warning("%s (set push.allow_signature_change to push anyway)", reason)
            _refuse(pushed, reason)
            return
        for leftover in serving.remove_leftovers(serving_dir):
            logging.warning("removed %s, left by an interrupted push", leftover)
        version, destination = serving.write_version(model_dir, serving_dir)
        logging.info("pushed %s as version %d: %s", model_dir, version, destination)
        pushed.set_int_custom_property(properties.PUSHED, 1)
        pushed.set_string_custom_property(properties.PUSHED_DESTINATION, destination)
        pushed.set_int_custom_property(properties.PUSHED_VERSION, version)
