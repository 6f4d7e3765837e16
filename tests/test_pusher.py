"""MultiHeadPusher's executor on real artifacts and folders."""

from __future__ import annotations

import os

import pytest
from tfx.types import standard_artifacts

from components.evaluator.spec import BLESSED_PROPERTY
from components.pusher import spec
from components.pusher.executor import Executor, push, served_versions


def make_model(root) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = str(root / "model")
    serving = root / "model" / "Format-Serving"
    (serving / "variables").mkdir(parents=True, exist_ok=True)
    (serving / "saved_model.pb").write_bytes(b"graph-bytes")
    (serving / "variables" / "variables.index").write_bytes(b"index-bytes")
    return model


def run_pusher(root, blessed: int, serving_dir: str) -> standard_artifacts.PushedModel:
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property(BLESSED_PROPERTY, blessed)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(root / "pushed")
    Executor().Do(
        {spec.MODEL_KEY: [make_model(root)], spec.BLESSING_KEY: [blessing]},
        {spec.PUSHED_MODEL_KEY: [pushed]},
        {spec.SERVING_DIR_KEY: serving_dir},
    )
    return pushed


def test_blessed_model_gets_next_version(tmp_path):
    serving = str(tmp_path / "serving" / "m")
    first = run_pusher(tmp_path, 1, serving)
    second = run_pusher(tmp_path, 1, serving)
    assert first.get_int_custom_property(spec.VERSION_PROPERTY) == 1
    assert second.get_int_custom_property(spec.VERSION_PROPERTY) == 2
    assert sorted(os.listdir(serving)) == ["1", "2"]  # no temporary left
    copied = os.path.join(serving, "2", "variables", "variables.index")
    assert open(copied, "rb").read() == b"index-bytes"
    assert second.get_string_custom_property(spec.DESTINATION_PROPERTY) == os.path.join(
        serving, "2"
    )


def test_unblessed_model_is_not_pushed(tmp_path):
    serving = str(tmp_path / "serving" / "m")
    pushed = run_pusher(tmp_path, 0, serving)
    assert pushed.get_int_custom_property(spec.PUSHED_PROPERTY) == 0
    assert served_versions(serving) == []
    assert not os.path.exists(serving)


def test_missing_model_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no SavedModel to push"):
        push(str(tmp_path / "does-not-exist"), str(tmp_path / "serving"))
    assert served_versions(str(tmp_path / "serving")) == []


def test_failed_copy_leaves_no_version_and_no_temporary(tmp_path):
    source = make_model(tmp_path).uri + "/Format-Serving"
    os.symlink(str(tmp_path / "gone"), os.path.join(source, "variables", "dangling"))
    serving = tmp_path / "serving"
    (serving / "1").mkdir(parents=True)
    with pytest.raises(OSError):
        push(source, str(serving))
    assert sorted(os.listdir(serving)) == ["1"]


def test_versions_ignore_non_numeric_entries(tmp_path):
    for name in ("3", "10", ".tmp-11-abc", "notes"):
        (tmp_path / name).mkdir()
    assert served_versions(str(tmp_path)) == [3, 10]
