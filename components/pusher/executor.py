"""Executor of MultiHeadPusher."""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components import properties, serving
from components.pusher import spec
from components.pusher.compatibility import incompatibilities
from trainer_module.compose import CompositionError, compose

COMPOSED_DIR = "composed"  # the composed model, in the PushedModel's folder


class Refused(Exception):
    """Why nothing is pushed, in words."""


def _release(blessing: types.Artifact) -> dict[str, Any] | None:
    text = blessing.get_string_custom_property(properties.RELEASE)
    return json.loads(text) if text else None


def _newest_served(serving_dir: str) -> int | None:
    """The served version (the newest that loads: TensorFlow Serving keeps
    serving it when a newer one is broken)."""
    version, skipped = serving.newest_loadable(serving_dir)
    for bad, problem in sorted(skipped.items()):
        logging.warning("served version %d does not load (%s); using %s", bad, problem, version)
    return version


def _composed(
    model_dir: str,
    release: dict[str, Any],
    served: types.Artifact | None,
    out: str,
    now: int | None,
) -> str:
    """The model to push: the candidate, or the candidate composed with the
    heads the release keeps from the served version."""
    kept = sorted(
        name for name, head in release["heads"].items() if head["from"] == properties.FROM_SERVED
    )
    if not kept:
        return model_dir
    version = release["served_version"]
    if served is None or not properties.is_found(served):
        raise Refused(f"not pushed: the release keeps {kept} but no served model was handed over")
    if now != version:
        raise Refused(
            f"not pushed: served version {version} was evaluated, but version {now} is served "
            "now; run again to compare with it"
        )
    try:
        compose(
            model_dir,
            path_utils.serving_model_path(served.uri),
            kept,
            out,
            f"served version {version}",
        )
    except CompositionError as error:
        raise Refused(
            f"not pushed: cannot keep {kept} from served version {version}: {error}"
        ) from error
    logging.info(
        "composed %s: %s from served version %d, the rest from %s", out, kept, version, model_dir
    )
    return out


def _head_sources(release: dict[str, Any] | None, pushed: int | None, served: int | None) -> dict:
    """head -> {"served_from": version, "from", "reason"} after this push
    (`pushed`: its version) or refusal (None: every head stays served)."""
    if not release:
        return {}
    result = {}
    for name, head in release["heads"].items():
        kept = pushed is None or head["from"] == properties.FROM_SERVED
        result[name] = {
            "served_from": served if kept else pushed,
            "from": properties.FROM_SERVED if kept else properties.FROM_CANDIDATE,
            "reason": head["reason"],
        }
    return result


def _holdout(input_dict: dict[str, list[types.Artifact]], release: dict | None) -> dict[str, str]:
    """head -> the examples that judged it, for the next run's holdout checks:
    this run's for the candidate's heads, the served version's for kept ones."""
    blessing = artifact_utils.get_single_instance(input_dict[spec.BLESSING_KEY])
    evaluated_on = blessing.get_string_custom_property(properties.EVALUATED_ON)
    served = (input_dict.get(spec.SERVED_MODEL_KEY) or [None])[0]
    kept_from = {}
    if served is not None and properties.is_found(served):
        kept_from = serving.read_holdout(path_utils.serving_model_path(served.uri))
    result = {}
    for name, head in ((release or {}).get("heads") or {}).items():
        uri = kept_from.get(name) if head["from"] == properties.FROM_SERVED else evaluated_on
        if uri:
            result[name] = uri
    return result


def _model_to_push(
    input_dict: dict[str, list[types.Artifact]],
    pushed: types.Artifact,
    release: dict[str, Any] | None,
    serving_dir: str,
    now: int | None,
    allow_signature_change: bool,
) -> str:
    """The folder of the SavedModel to push.

    Raises:
      Refused: not blessed, a composition that cannot be made, or a
        signature change the served model's clients would not survive.
    """
    model = artifact_utils.get_single_instance(input_dict[spec.MODEL_KEY])
    blessing = artifact_utils.get_single_instance(input_dict[spec.BLESSING_KEY])
    if not properties.is_blessed(blessing):
        logging.info("model %s is not blessed; nothing pushed", model.uri)
        blocked = (release or {}).get("blocked")
        raise Refused(f"not pushed: {blocked}" if blocked else "")
    model_dir = path_utils.serving_model_path(model.uri)
    if release:
        served = (input_dict.get(spec.SERVED_MODEL_KEY) or [None])[0]
        out = os.path.join(pushed.uri, COMPOSED_DIR)
        model_dir = _composed(model_dir, release, served, out, now)
    if now is None:
        return model_dir
    served_dir = serving.version_dir(serving_dir, now)
    problems = incompatibilities(served_dir, model_dir, f"served version {now}")
    for problem in problems:
        logging.warning("signature change: %s", problem)
    if problems and not allow_signature_change:
        logging.warning("set push.allow_signature_change to push anyway")
        raise Refused("not pushed: " + "; ".join(problems))
    return model_dir


class Executor(base_executor.BaseExecutor):
    """Pushes a blessed, signature-compatible model as the next version."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        blessing = artifact_utils.get_single_instance(input_dict[spec.BLESSING_KEY])
        pushed = artifact_utils.get_single_instance(output_dict[spec.PUSHED_MODEL_KEY])
        serving_dir = exec_properties[spec.SERVING_DIR_KEY]
        release = _release(blessing)
        now = _newest_served(serving_dir)
        allow = bool(exec_properties.get(spec.ALLOW_SIGNATURE_CHANGE_KEY))
        try:
            model_dir = _model_to_push(input_dict, pushed, release, serving_dir, now, allow)
        except Refused as refused:
            reason = str(refused)
            pushed.set_int_custom_property(properties.PUSHED, 0)
            sources = _head_sources(release, None, now)
            if reason:
                logging.warning("%s", reason)
                pushed.set_string_custom_property(properties.PUSH_REFUSED, reason)
                sources = {name: {**s, "reason": reason} for name, s in sources.items()}
            pushed.set_string_custom_property(properties.HEAD_SOURCES, json.dumps(sources))
            return
        for leftover in serving.remove_leftovers(serving_dir):
            logging.warning("removed %s, left by an interrupted push", leftover)
        version, destination = serving.write_version(
            model_dir, serving_dir, _holdout(input_dict, release)
        )
        logging.info("pushed %s as version %d: %s", model_dir, version, destination)
        pushed.set_int_custom_property(properties.PUSHED, 1)
        pushed.set_string_custom_property(properties.PUSHED_DESTINATION, destination)
        pushed.set_int_custom_property(properties.PUSHED_VERSION, version)
        sources = _head_sources(release, version, now)
        pushed.set_string_custom_property(properties.HEAD_SOURCES, json.dumps(sources))
