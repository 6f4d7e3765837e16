"""The training loop and the trainer under tf.distribute's
MultiWorkerMirroredStrategy: two worker processes on this machine (TF_CONFIG
on localhost ports) against one process without a strategy."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np

from tests.distributed_worker import STEPS, VARIANTS

WORKER = [sys.executable, "-m", "tests.distributed_worker"]
TIMEOUT = 600


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}


def _run(args: list[str]) -> list[subprocess.CompletedProcess]:
    """One process, no TF_CONFIG: no strategy."""
    return [subprocess.run(WORKER + args, env=_environment(), capture_output=True, text=True)]


def _run_each(args: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """A cluster of workers on localhost, worker i running `args[i]`."""
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(len(args))]}
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
