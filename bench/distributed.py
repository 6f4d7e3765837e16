"""Benchmark 12, training workers: the disjoint three-head loop on the taxi
data in one process vs under MultiWorkerMirroredStrategy on 2 worker
processes of this machine (TF_CONFIG on localhost ports).

    python -m bench.distributed [--steps 600] [--workers 2]

Each variant is timed from the first step to the last (after 50 warm-up
steps that absorb tracing and the workers' first collective), in its own
processes; the figure is the wall time per step and its ratio. Both train
on the same global batch (256), so a worker computes half of it. Target:
measured (on 2 cores, 2 workers share the cores a single process has).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time

from bench.common import BENCH_HOME, DEFAULT_CONFIG, Prepared, machine, prepare, result, save
from pipeline.config_file import load_config

WARMUP = 50


def _worker(prepared: str, steps: int, out: str) -> None:
    """One process of a variant (with TF_CONFIG: one worker of the cluster),
    on the artifacts `prepared` names."""
    from trainer_module import distribute

    # Before any TensorFlow op: a multi-worker strategy configures collectives.
    strategy = distribute.make_strategy("multi_worker" if "TF_CONFIG" in os.environ else "none")
    from bench.models import Workbench, variant
    from trainer_module.training import TrainingLoop

    with open(prepared) as f:
        uris = json.load(f)
    bench = Workbench(Prepared(config=load_config(DEFAULT_CONFIG), **uris))
    config = variant(bench.prep.config, early_stopping=None)
    with distribute.scope(strategy):
        loop = TrainingLoop(bench.model(config), config, strategy)
    batches = distribute.batches(strategy, bench.dataset(config, 1), len(bench.train_files))
    loop.fit(batches, WARMUP)
    started = time.perf_counter()
    loop.fit(batches, steps)
    seconds = time.perf_counter() - started
    with open(out, "w") as f:
        json.dump({"seconds": seconds}, f)


def free_ports(count: int) -> list[int]:
    """Ports on localhost free now, for a cluster of `count` workers."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _variant(prepared: str, steps: int, workers: int, folder: str) -> float:
    """Seconds of `steps` steps: the slowest worker's (1 worker: no strategy)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    cluster = {"worker": [f"localhost:{p}" for p in free_ports(workers)]}
    processes, outs = [], []
    for index in range(workers):
        out = os.path.join(folder, f"w{workers}-{index}.json")
        outs.append(out)
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        command = [sys.executable, "-m", "bench.distributed", "--worker", out]
        command += ["--prepared", prepared, "--steps", str(steps)]
        own = {**env, "TF_CONFIG": json.dumps(task)} if workers > 1 else env
        processes.append(subprocess.Popen(command, env=own, stderr=subprocess.PIPE, text=True))
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"worker failed:\n{err[-3000:]}")
    seconds = []
    for out in outs:
        with open(out) as f:
            seconds.append(json.load(f)["seconds"])
    return max(seconds)


def run(home: str, steps: int, workers: int) -> dict:
    folder = os.path.join(home, "distributed")
    os.makedirs(folder, exist_ok=True)
    # The pipeline run both variants train on, made (or found cached) once.
    uris = dataclasses.asdict(prepare(home, DEFAULT_CONFIG))
    del uris["config"]
    prepared = os.path.join(folder, "prepared.json")
    with open(prepared, "w") as f:
        json.dump(uris, f)
    one = _variant(prepared, steps, 1, folder)
    many = _variant(prepared, steps, workers, folder)
    print(f"\ntraining workers, {steps} steps of global batch 256, {machine()}")
    print(f"  1 process          {one / steps * 1e3:7.2f} ms/step")
    print(f"  {workers} workers          {many / steps * 1e3:7.2f} ms/step")
    ratio = many / one
    lines = [result("distributed", f"{workers}_workers_vs_one_per_step", ratio, "measured", True)]
    return {"seconds": {"one": one, "workers": many}, "steps": steps, "results": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=BENCH_HOME)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one worker's output file
    parser.add_argument("--prepared", help=argparse.SUPPRESS)  # internal: the artifacts' URIs
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.prepared, args.steps, args.worker)
        return 0
    save("distributed", run(args.home, args.steps, args.workers), smoke=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
