"""ServedModelLookup's executor on real serving folders."""

from __future__ import annotations

import os

from tfx.types import standard_artifacts

from components.properties import SERVED_VERSION, is_found
from components.served_model import spec
from components.served_model.executor import Executor, served_state


def lookup(tmp_path, serving: str) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "out")
    Executor().Do({}, {spec.MODEL_KEY: [model]}, {spec.SERVING_DIR_KEY: serving})
    return model


def test_no_served_model_yet(tmp_path):
    model = lookup(tmp_path, str(tmp_path / "serving"))
    assert not is_found(model)
    assert model.get_int_custom_property(SERVED_VERSION) == 0
    assert served_state(str(tmp_path / "serving")).endswith("@none")


def test_newest_version_is_copied(tmp_path):
    serving = tmp_path / "serving"
    for version in ("2", "10", ".tmp-11-x"):
        (serving / version).mkdir(parents=True)
        (serving / version / "saved_model.pb").write_text(version)
    model = lookup(tmp_path, str(serving))
    assert is_found(model)
    assert model.get_int_custom_property(SERVED_VERSION) == 10
    copied = os.path.join(model.uri, "Format-Serving", "saved_model.pb")
    assert open(copied).read() == "10"
    assert served_state(str(serving)).endswith("@10")
