"""MultiHeadPusher's executor on real artifacts and folders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components import properties
from components.pusher import spec
from components.pusher.executor import Executor
from components.serving import served_versions
from components.serving import write_version as push
from trainer_module.signatures import INPUTS_FILE


def _signature(name: str, dtype: tf.DType):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        return {name: tf.zeros(tf.shape(examples), dtype)}

    return serve.get_concrete_function()


def _columns_signature(columns: dict[str, tf.DType], output: str):
    specs = {name: tf.TensorSpec([None], dtype, name=name) for name, dtype in columns.items()}

    @tf.function(input_signature=[specs])
    def serve(inputs):
        first = next(iter(inputs.values()))
        return {output: tf.zeros(tf.shape(first), tf.float32)}

    return serve.get_concrete_function()


def write_saved_model(
    path: str, outputs: dict[str, tf.DType], columns: dict[str, tf.DType] | None = None
) -> None:
    """A real SavedModel with one signature per output name (and
    `serving_columns` with these named inputs)."""
    signatures = {name: _signature(name, dtype) for name, dtype in outputs.items()}
    signatures["serving_default"] = signatures[next(iter(outputs))]
    if columns:
        signatures["serving_columns"] = _columns_signature(columns, next(iter(outputs)))
    tf.saved_model.save(tf.Module(), path, signatures=signatures)


def make_model(
    root,
    outputs: dict[str, tf.DType] | None = None,
    inputs: dict | None = None,
    columns: dict[str, tf.DType] | None = None,
) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = str(root / "model")
    serving = str(root / "model" / "Format-Serving")
    if os.path.exists(serving):
        shutil.rmtree(serving)
    write_saved_model(serving, outputs or {"fare": tf.float32, "tipper": tf.float32}, columns)
    if inputs is not None:
        os.makedirs(os.path.join(serving, os.path.dirname(INPUTS_FILE)))
        with open(os.path.join(serving, INPUTS_FILE), "w") as f:
            json.dump(inputs, f)
    return model


def run_pusher(
    root, blessed: int, serving_dir: str, outputs=None, allow: int = 0, inputs=None, columns=None
) -> standard_artifacts.PushedModel:
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property(properties.BLESSED, blessed)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(root / "pushed")
    Executor().Do(
        {
            spec.MODEL_KEY: [make_model(root, outputs, inputs, columns)],
            spec.BLESSING_KEY: [blessing],
        },
        {spec.PUSHED_MODEL_KEY: [pushed]},
        {spec.SERVING_DIR_KEY: serving_dir, spec.ALLOW_SIGNATURE_CHANGE_KEY: allow},
    )
    return pushed


def test_blessed_model_gets_next_version(tmp_path):
    serving = str(tmp_path / "serving" / "m")
    first = run_pusher(tmp_path, 1, serving)
    second = run_pusher(tmp_path, 1, serving)
    assert first.get_int_custom_property(properties.PUSHED_VERSION) == 1
    assert second.get_int_custom_property(properties.PUSHED_VERSION) == 2
    assert sorted(os.listdir(serving)) == ["1", "2"]  # no temporary left
    copied = os.path.join(serving, "2", "saved_model.pb")
    source = os.path.join(str(tmp_path), "model", "Format-Serving", "saved_model.pb")
    assert open(copied, "rb").read() == open(source, "rb").read()
    assert second.get_string_custom_property(properties.PUSHED_DESTINATION) == os.path.join(
        serving, "2"
    )


def test_unblessed_model_is_not_pushed(tmp_path):
    serving = str(tmp_path / "serving" / "m")
    pushed = run_pusher(tmp_path, 0, serving)
    assert pushed.get_int_custom_property(properties.PUSHED) == 0
    assert served_versions(serving) == []
    assert not os.path.exists(serving)


def test_missing_model_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no SavedModel to push"):
        push(str(tmp_path / "does-not-exist"), str(tmp_path / "serving"))
    assert served_versions(str(tmp_path / "serving")) == []


def test_failed_copy_leaves_no_version_and_no_temporary(tmp_path):
    source = make_model(tmp_path).uri + "/Format-Serving"
    os.symlink(str(tmp_path / "gone"), os.path.join(source, "assets", "dangling"))
    serving = tmp_path / "serving"
    (serving / "1").mkdir(parents=True)
    with pytest.raises(OSError):
        push(source, str(serving))
    assert sorted(os.listdir(serving)) == ["1"]


def test_versions_ignore_non_numeric_entries(tmp_path):
    for name in ("3", "10", ".tmp-11-abc", "notes"):
        (tmp_path / name).mkdir()
    assert served_versions(str(tmp_path)) == [3, 10]


def test_dropped_signature_is_not_pushed_and_says_why(tmp_path):
    serving = str(tmp_path / "serving")
    run_pusher(tmp_path, 1, serving)
    pushed = run_pusher(tmp_path, 1, serving, outputs={"fare": tf.float32})
    assert pushed.get_int_custom_property(properties.PUSHED) == 0
    reason = pushed.get_string_custom_property(properties.PUSH_REFUSED)
    assert reason == "not pushed: signature 'tipper' is missing (served version 1 has it)"
    assert served_versions(serving) == [1]


def test_changed_output_dtype_is_not_pushed(tmp_path):
    serving = str(tmp_path / "serving")
    run_pusher(tmp_path, 1, serving)
    pushed = run_pusher(tmp_path, 1, serving, outputs={"fare": tf.float32, "tipper": tf.int64})
    reason = pushed.get_string_custom_property(properties.PUSH_REFUSED)
    assert "output 'tipper' of signature 'tipper' changes from float [-1] to int64 [-1]" in reason


def test_signature_change_is_pushed_when_allowed_and_new_heads_always(tmp_path):
    serving = str(tmp_path / "serving")
    run_pusher(tmp_path, 1, serving)
    more = {"fare": tf.float32, "tipper": tf.float32, "seconds": tf.float32}
    assert (
        run_pusher(tmp_path, 1, serving, outputs=more).get_int_custom_property(
            properties.PUSHED_VERSION
        )
        == 2
    )
    fewer = run_pusher(tmp_path, 1, serving, outputs={"fare": tf.float32}, allow=1)
    assert fewer.get_int_custom_property(properties.PUSHED_VERSION) == 3


def test_an_input_that_becomes_required_is_not_pushed(tmp_path):
    serving = str(tmp_path / "serving")
    run_pusher(tmp_path, 1, serving, inputs={"required": [], "optional": ["miles", "pay"]})
    required = {"required": ["miles"], "optional": ["pay"]}
    pushed = run_pusher(tmp_path, 1, serving, inputs=required)
    assert pushed.get_string_custom_property(properties.PUSH_REFUSED) == (
        "not pushed: input 'miles' becomes required (served version 1 accepts examples without it)"
    )
    assert served_versions(serving) == [1]
    optional_again = {"required": [], "optional": ["miles", "pay", "new"]}
    assert (
        run_pusher(tmp_path, 1, serving, inputs=optional_again).get_int_custom_property(
            properties.PUSHED_VERSION
        )
        == 2
    )


def test_named_inputs_of_the_columns_signature_must_stay_as_served(tmp_path):
    """REST clients send every input of serving_columns, and only those."""
    serving = str(tmp_path / "serving")
    served = {"miles": tf.float32, "pay": tf.string}
    run_pusher(tmp_path, 1, serving, columns=served)
    cases = {
        "input 'hour' of signature 'serving_columns' is new (clients of served version 1 "
        "do not send it)": {**served, "hour": tf.float64},
        "input 'pay' of signature 'serving_columns' is gone (clients of served version 1 "
        "send it, and TensorFlow Serving refuses an input the signature lacks)": {
            "miles": tf.float32
        },
        "input 'pay' of signature 'serving_columns' changes from string [-1] to float [-1]": {
            "miles": tf.float32,
            "pay": tf.float32,
        },
    }
    for reason, columns in cases.items():
        pushed = run_pusher(tmp_path, 1, serving, columns=columns)
        assert pushed.get_string_custom_property(properties.PUSH_REFUSED) == f"not pushed: {reason}"
    assert served_versions(serving) == [1]
    same = run_pusher(tmp_path, 1, serving, columns=dict(served))
    assert same.get_int_custom_property(properties.PUSHED_VERSION) == 2


def test_a_temporary_folder_left_by_a_killed_push_is_removed_by_the_next(tmp_path):
    serving = tmp_path / "serving"
    run_pusher(tmp_path, 1, str(serving))
    (serving / ".tmp-2-deadbeef" / "variables").mkdir(parents=True)  # a copy killed halfway
    pushed = run_pusher(tmp_path, 1, str(serving))
    assert pushed.get_int_custom_property(properties.PUSHED_VERSION) == 2
    assert sorted(os.listdir(serving)) == ["1", "2"]


def test_a_copy_killed_halfway_leaves_no_version_and_the_next_push_cleans_up(tmp_path):
    model = make_model(tmp_path)
    source = os.path.join(model.uri, "Format-Serving")
    with open(os.path.join(source, "assets", "big.bin"), "wb") as f:
        f.write(b"\0" * (300 << 20))  # long enough to kill the copy halfway
    serving = tmp_path / "serving"
    code = (
        "import sys; sys.path.insert(0, '.');"
        "from components.serving import write_version;"
        f"write_version({source!r}, {str(serving)!r})"
    )
    copy = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
        name.startswith(".tmp-") for name in (os.listdir(serving) if serving.exists() else [])
    ):
        time.sleep(0.001)
    copy.send_signal(signal.SIGKILL)
    copy.wait()
    left = os.listdir(serving)
    assert [name for name in left if name.isdigit()] == []  # never a half-written version
    assert any(name.startswith(".tmp-") for name in left)
    os.remove(os.path.join(source, "assets", "big.bin"))
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property(properties.BLESSED, 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    Executor().Do(
        {spec.MODEL_KEY: [model], spec.BLESSING_KEY: [blessing]},
        {spec.PUSHED_MODEL_KEY: [pushed]},
        {spec.SERVING_DIR_KEY: str(serving)},
    )
    assert os.listdir(serving) == ["1"]


def test_a_push_records_the_examples_that_judged_each_head(tmp_path):
    """The next run judges its candidate on them too (evaluator/holdout.py)."""
    from components.serving import read_holdout

    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property(properties.BLESSED, 1)
    blessing.set_string_custom_property(properties.EVALUATED_ON, "/pipeline/CsvExampleGen/7")
    release = {
        "policy": "per_head",
        "served_version": None,
        "blocked": None,
        "heads": {h: {"from": "candidate", "reason": "passes"} for h in ("fare", "tipper")},
    }
    blessing.set_string_custom_property(properties.RELEASE, json.dumps(release))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    serving = str(tmp_path / "serving" / "m")
    Executor().Do(
        {spec.MODEL_KEY: [make_model(tmp_path)], spec.BLESSING_KEY: [blessing]},
        {spec.PUSHED_MODEL_KEY: [pushed]},
        {spec.SERVING_DIR_KEY: serving},
    )
    assert read_holdout(os.path.join(serving, "1")) == {
        "fare": "/pipeline/CsvExampleGen/7",
        "tipper": "/pipeline/CsvExampleGen/7",
    }
    sources = json.loads(pushed.get_string_custom_property(properties.HEAD_SOURCES))
    assert sources["fare"] == {"served_from": 1, "from": "candidate", "reason": "passes"}


def test_a_release_that_keeps_a_head_of_a_version_no_longer_served_is_refused(tmp_path):
    """Another push came between evaluation and push: the kept head would come
    from a version the candidate was not compared with."""
    serving = str(tmp_path / "serving" / "m")
    run_pusher(tmp_path / "a", 1, serving)
    run_pusher(tmp_path / "b", 1, serving)  # versions 1 and 2
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property(properties.BLESSED, 1)
    release = {
        "policy": "per_head",
        "served_version": 1,
        "blocked": None,
        "heads": {
            "fare": {"from": "served", "reason": "fare: mean_absolute_error 9 > threshold 5"},
            "tipper": {"from": "candidate", "reason": "passes its gates"},
        },
    }
    blessing.set_string_custom_property(properties.RELEASE, json.dumps(release))
    served = standard_artifacts.Model()
    served.uri = str(tmp_path / "lookup")
    served.set_int_custom_property(properties.FOUND, 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    Executor().Do(
        {
            spec.MODEL_KEY: [make_model(tmp_path)],
            spec.BLESSING_KEY: [blessing],
            spec.SERVED_MODEL_KEY: [served],
        },
        {spec.PUSHED_MODEL_KEY: [pushed]},
        {spec.SERVING_DIR_KEY: serving},
    )
    assert pushed.get_int_custom_property(properties.PUSHED) == 0
    refused = pushed.get_string_custom_property(properties.PUSH_REFUSED)
    assert refused == (
        "not pushed: served version 1 was evaluated, but version 2 is served now; "
        "run again to compare with it"
    )
    assert served_versions(serving) == [1, 2]
    sources = json.loads(pushed.get_string_custom_property(properties.HEAD_SOURCES))
    assert sources["fare"]["served_from"] == 2 and sources["fare"]["reason"] == refused
