"""ServedModelLookup's executor on real serving folders, including broken versions."""

from __future__ import annotations

import json
import os
import shutil

import tensorflow as tf
from tfx.types import standard_artifacts

from components import properties
from components.properties import SERVED_VERSION, is_found
from components.served_model import spec
from components.served_model.executor import Executor, served_state


def lookup(tmp_path, serving: str) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "out")
    if os.path.exists(model.uri):
        shutil.rmtree(model.uri)
    Executor().Do({}, {spec.MODEL_KEY: [model]}, {spec.SERVING_DIR_KEY: serving})
    return model


def write_version(serving, version: int, value: float) -> str:
    """A real, small SavedModel as version `version`."""
    module = tf.Module()
    module.value = tf.Variable(value)
    path = str(serving / str(version))
    tf.saved_model.save(module, path)
    return path


def copied_value(model: standard_artifacts.Model) -> float:
    return float(tf.saved_model.load(os.path.join(model.uri, "Format-Serving")).value.numpy())


def test_no_served_model_yet(tmp_path):
    model = lookup(tmp_path, str(tmp_path / "serving"))
    assert not is_found(model)
    assert model.get_int_custom_property(SERVED_VERSION) == 0
    assert served_state(str(tmp_path / "serving")).endswith("@none")


def test_newest_version_is_copied(tmp_path):
    serving = tmp_path / "serving"
    write_version(serving, 2, 2.0)
    write_version(serving, 10, 10.0)
    (serving / ".tmp-11-x").mkdir()
    model = lookup(tmp_path, str(serving))
    assert is_found(model)
    assert model.get_int_custom_property(SERVED_VERSION) == 10
    assert copied_value(model) == 10.0
    assert properties.SKIPPED_VERSIONS not in model.mlmd_artifact.custom_properties
    assert "@10:" in served_state(str(serving))


def test_a_truncated_newest_version_is_skipped_named_and_not_cached_once_repaired(tmp_path):
    serving = tmp_path / "serving"
    write_version(serving, 1, 1.0)
    good = write_version(serving, 2, 2.0)
    pb = os.path.join(good, "saved_model.pb")
    intact = open(pb, "rb").read()
    healthy_state = served_state(str(serving))
    with open(pb, "wb") as f:
        f.write(intact[: len(intact) // 2])
    model = lookup(tmp_path, str(serving))
    # TF Serving keeps serving version 1 when 2 fails to load: so does the lookup.
    assert model.get_int_custom_property(SERVED_VERSION) == 1 and copied_value(model) == 1.0
    skipped = json.loads(model.get_string_custom_property(properties.SKIPPED_VERSIONS))
    assert list(skipped) == ["2"] and skipped["2"]
    broken_state = served_state(str(serving))
    assert broken_state != healthy_state  # the cache key follows the content
    with open(pb, "wb") as f:
        f.write(intact)
    assert served_state(str(serving)) == healthy_state
    assert lookup(tmp_path, str(serving)).get_int_custom_property(SERVED_VERSION) == 2


def test_no_version_loads(tmp_path):
    serving = tmp_path / "serving"
    (serving / "1").mkdir(parents=True)
    (serving / "1" / "saved_model.pb").write_bytes(b"not a model")
    model = lookup(tmp_path, str(serving))
    assert not is_found(model)
    assert "1" in json.loads(model.get_string_custom_property(properties.SKIPPED_VERSIONS))
