"""The training loop and the trainer under tf.distribute's
MultiWorkerMirroredStrategy: two worker processes on this machine (TF_CONFIG
on localhost ports) against one process without a strategy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bench.distributed import free_ports
from components.trainer.spec import REPORT_FILE
from tests.artifacts import SPEC, make_inputs
from tests.distributed_worker import STEPS, VARIANTS
from trainer_module.spec import ModelSpec

WORKER = [sys.executable, "-m", "tests.distributed_worker"]
TIMEOUT = 600


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}


def _run(args: list[str]) -> list[subprocess.CompletedProcess]:
    """One process, no TF_CONFIG: no strategy."""
    return [subprocess.run(WORKER + args, env=_environment(), capture_output=True, text=True)]


def _run_each(args: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """A cluster of workers on localhost, worker i running `args[i]`."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(len(args))]}
    processes = []
    for index, worker_args in enumerate(args):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                WORKER + worker_args,
                env={**_environment(), "TF_CONFIG": json.dumps(task)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    done = []
    for process in processes:
        out, err = process.communicate(timeout=TIMEOUT)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


def _ok(results: list[subprocess.CompletedProcess]) -> None:
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]


def test_two_workers_train_every_head_as_one_process_does(tmp_path):
    """The same global batches, each worker computing on half of each: every
    head's own optimizer, summing its gradients over the workers, reaches
    the weights one process reaches. The tolerance, 1e-5 absolute on weights
    of order 1 after 20 steps, is float32 rounding: two half-batch sums added
    instead of one full-batch sum, about 1e-7 relative a step."""
    one = str(tmp_path / "one.npz")
    _ok(_run(["loop", one]))
    outs = [str(tmp_path / f"worker{i}.npz") for i in range(2)]
    _ok(_run_each([["loop", out] for out in outs]))
    reference = np.load(one)
    for out in outs:
        trained = np.load(out)
        assert set(trained.files) == set(reference.files)
        for key in reference.files:
            np.testing.assert_allclose(trained[key], reference[key], atol=1e-5, err_msg=key)
    for variant in VARIANTS:
        steps = {k: int(reference[k]) for k in reference.files if k.startswith(f"{variant}/iter")}
        assert steps == {f"{variant}/iterations/{h}": STEPS for h in ("a", "b")}


@pytest.fixture(scope="module")
def inputs_folder(tmp_path_factory) -> str:
    inputs = make_inputs(str(tmp_path_factory.mktemp("inputs")))
    return os.path.dirname(inputs.raw_examples.uri)


def _train(tmp_path, inputs_folder: str, distribute: str, workers: int) -> dict:
    """The MultiHeadTrainer executor on `workers` workers (0: one process
    without a strategy); returns the report the chief wrote."""
    raw = SPEC.model_dump(mode="json")
    raw["training"].update(distribute=distribute, steps=200)
    spec_file = tmp_path / f"{distribute}.json"
    spec_file.write_text(ModelSpec.model_validate(raw).to_json())
    out = tmp_path / distribute
    args = ["trainer", str(spec_file), inputs_folder, str(out)]
    results = _run(args) if not workers else _run_each([args] * workers)
    _ok(results)
    for index, result in enumerate(results):
        assert f"worker {index} done" in result.stdout
    with open(out / "model" / REPORT_FILE) as f:
        return {"report": json.load(f), "model": str(out / "model" / "Format-Serving")}


def test_the_trainer_on_two_workers_writes_one_model_from_the_chief(tmp_path, inputs_folder):
    one = _train(tmp_path, inputs_folder, "none", workers=0)
    two = _train(tmp_path, inputs_folder, "multi_worker", workers=2)
    assert two["report"]["distribute"] == {
        "strategy": "multi_worker",
        "replicas": 2,
        "workers": 2,
        "chief": True,
    }
    assert one["report"]["distribute"]["replicas"] == 1
    model = tf.saved_model.load(two["model"])
    assert {"big", "size", "serving_default"} <= set(model.signatures)
    # One training file for two workers: each reads it all and takes its
    # share of every (seeded, so the same) shuffled global batch, so the
    # steps are one process's steps, split: the eval losses agree but for
    # float rounding (measured: to 1e-7 after 200 steps).
    for head, loss in one["report"]["eval_loss"].items():
        assert two["report"]["eval_loss"][head] == pytest.approx(loss, rel=1e-5), head
