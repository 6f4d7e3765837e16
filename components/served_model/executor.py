"""Executor of ServedModelLookup."""

from __future__ import annotations

import json
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
    """What is served, for the cache key: the newest version and its content.

    Keyed on the content, not only the number: a version repaired (or broken)
    in place changes the key, so a lookup cached as "v3 does not load" is not
    reused once v3 is restored.
    """
    versions = serving.served_versions(serving_dir)
    if not versions:
        return f"{serving_dir}@none"
    newest = versions[-1]
    content = serving.content_fingerprint(serving.version_dir(serving_dir, newest))
    return f"{serving_dir}@{newest}:{content}"


class Executor(base_executor.BaseExecutor):
    """Copies the newest served version that loads into the output model."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        del input_dict
        model = artifact_utils.get_single_instance(output_dict[spec.MODEL_KEY])
        serving_dir = exec_properties[spec.SERVING_DIR_KEY]
        fileio.makedirs(model.uri)
        version, skipped = serving.newest_loadable(serving_dir)
        for bad, problem in sorted(skipped.items()):
            logging.warning(
                "served version %d under %s does not load: %s", bad, serving_dir, problem
            )
        if skipped:
            model.set_string_custom_property(
                properties.SKIPPED_VERSIONS, json.dumps({str(v): p for v, p in skipped.items()})
            )
        if version is None:
            logging.info("no loadable model served under %s", serving_dir)
            model.set_int_custom_property(properties.FOUND, 0)
            model.set_int_custom_property(properties.SERVED_VERSION, 0)
            return
        source = serving.version_dir(serving_dir, version)
        io_utils.copy_dir(source, path_utils.serving_model_path(model.uri))
        logging.info("served model: version %d at %s", version, source)
        model.set_int_custom_property(properties.FOUND, 1)
        model.set_int_custom_property(properties.SERVED_VERSION, version)
        model.set_string_custom_property(properties.SERVED_PATH, source)
