"""Executor of ServedModelLookup."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components import properties, serving
from components.served_model import spec


def served_state(serving_dir: str) -> str:
    """A short description of what is served, for the cache key."""
    versions = serving.served_versions(serving_dir)
    return f"{serving_dir}@{versions[-1]}" if versions else f"{serving_dir}@none"


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        del input_dict
        model = artifact_utils.get_single_instance(output_dict[spec.MODEL_KEY])
        serving_dir = exec_properties[spec.SERVING_DIR_KEY]
        versions = serving.served_versions(serving_dir)
        fileio.makedirs(model.uri)
        if not versions:
            logging.info("no model served under %s", serving_dir)
            model.set_int_custom_property(properties.FOUND, 0)
            model.set_int_custom_property(properties.SERVED_VERSION, 0)
            return
        source = serving.version_dir(serving_dir, versions[-1])
        io_utils.copy_dir(source, path_utils.serving_model_path(model.uri))
        logging.info("served model: version %d at %s", versions[-1], source)
        model.set_int_custom_property(properties.FOUND, 1)
        model.set_int_custom_property(properties.SERVED_VERSION, versions[-1])
        model.set_string_custom_property(properties.SERVED_PATH, source)
