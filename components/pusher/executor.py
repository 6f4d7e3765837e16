"""Executor of MultiHeadPusher."""

from __future__ import annotations

import os
import uuid
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.evaluator.spec import BLESSED_PROPERTY
from components.pusher import spec
from components.pusher.compatibility import incompatibilities

TEMP_PREFIX = ".tmp-"


def served_versions(serving_dir: str) -> list[int]:
    """Numbered version folders under `serving_dir`, ascending."""
    if not fileio.exists(serving_dir):
        return []
    names = [name.rstrip("/") for name in fileio.listdir(serving_dir)]
    return sorted(int(name) for name in names if name.isdigit())


def push(model_dir: str, serving_dir: str) -> tuple[int, str]:
    """Copies `model_dir` to the next version under `serving_dir`.

    The copy is written under a hidden temporary name and renamed into place,
    so a reader (TensorFlow Serving) never sees a half-written version.

    Returns:
      (version, destination path).
    """
    if not fileio.exists(os.path.join(model_dir, "saved_model.pb")):
        raise FileNotFoundError(f"no SavedModel to push at {model_dir}")
    fileio.makedirs(serving_dir)
    version = (served_versions(serving_dir) or [0])[-1] + 1
    destination = os.path.join(serving_dir, str(version))
    temporary = os.path.join(serving_dir, f"{TEMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    try:
        io_utils.copy_dir(model_dir, temporary)
        fileio.rename(temporary, destination, overwrite=False)
    except BaseException:
        if fileio.exists(temporary):
            fileio.rmtree(temporary)
        raise
    return version, destination


class Executor(base_executor.BaseExecutor):
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
        if not blessing.get_int_custom_property(BLESSED_PROPERTY):
            logging.info("model %s is not blessed; nothing pushed", model.uri)
            pushed.set_int_custom_property(spec.PUSHED_PROPERTY, 0)
            return
        model_dir = path_utils.serving_model_path(model.uri)
        versions = served_versions(serving_dir)
        if versions:
            served = os.path.join(serving_dir, str(versions[-1]))
            problems = incompatibilities(served, model_dir, f"served version {versions[-1]}")
            allowed = bool(exec_properties.get(spec.ALLOW_SIGNATURE_CHANGE_KEY))
            for problem in problems:
                logging.warning("signature change: %s", problem)
            if problems and not allowed:
                reason = "not pushed: " + "; ".join(problems)
                logging.warning("%s (set push.allow_signature_change to push anyway)", reason)
                pushed.set_int_custom_property(spec.PUSHED_PROPERTY, 0)
                pushed.set_string_custom_property(spec.REFUSED_PROPERTY, reason)
                return
        version, destination = push(model_dir, serving_dir)
        logging.info("pushed %s as version %d: %s", model_dir, version, destination)
        pushed.set_int_custom_property(spec.PUSHED_PROPERTY, 1)
        pushed.set_string_custom_property(spec.DESTINATION_PROPERTY, destination)
        pushed.set_int_custom_property(spec.VERSION_PROPERTY, version)
