"""The compiled Kubeflow pipeline, replayed task by task from its IR.

Every task runs its container command from the PipelineSpec in a subprocess
(the TFX v2 entry point), with inputs wired from the IR as a KFP launcher
would: this is what breaks on a cluster when class paths, properties or
entry points are wrong.
"""

from __future__ import annotations

import json
import os

import pytest
import tensorflow as tf

from kubeflow.compile import compile_pipeline
from kubeflow.testing.replay import load_spec, metadata, replay, task_order
from pipeline.config_file import load_config
from tests.conftest import taxi_sample, write_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    data = root / "data"
    data.mkdir()
    taxi_sample(str(data / "part.csv"), rows=2000, seed_every=7)
    config_path = write_config(root / "config.yaml", data, auc_lower=0.6, steps=200)
    spec = compile_pipeline(
        load_config(config_path),
        str(root / "pipeline.yaml"),
        pipeline_root="gs://unused-at-compile-time/root",
        data_root="gs://overridden/at/run/time",
    )
    serving = root / "serving"
    runs = replay(
        spec,
        str(root / "pipeline_root"),
        {"data-root": str(data), "serving-root": str(serving)},
    )
    return spec, runs, serving


def test_tasks_run_in_dependency_order(replayed):
    spec, runs, _ = replayed
    order = task_order(load_spec(spec))
    assert list(runs) == order
    assert order.index("Transform") < order.index("MultiHeadTrainer")
    assert order.index("MultiHeadTrainer") < order.index("MultiHeadEvaluator")
    assert order[-1] == "MultiHeadPusher"


def test_evaluator_blessed_with_per_head_verdicts(replayed):
    _, runs, _ = replayed
    blessing = metadata(runs["MultiHeadEvaluator"].outputs["blessing"])
    assert blessing["blessed"] == 1
    verdicts = json.loads(blessing["verdicts"])
    assert sorted(verdicts) == ["big_tipper", "fare", "trip_seconds"]
    assert all(v["verdict"] == "pass" for v in verdicts.values())


def test_pusher_pushed_to_the_runtime_serving_root(replayed):
    _, runs, serving = replayed
    pushed = metadata(runs["MultiHeadPusher"].outputs["pushed_model"])
    assert pushed["pushed"] == 1
    assert pushed["pushed_destination"] == os.path.join(str(serving), "1")
    loaded = tf.saved_model.load(pushed["pushed_destination"])
    assert {"serving_default", "big_tipper", "fare", "trip_seconds"} <= set(loaded.signatures)
