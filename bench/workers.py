"""Benchmark 11, Beam workers: the pipeline with its Beam steps in this
process (`beam.runner: local`) vs on worker processes (`multiprocess`).

    python -m bench.workers [--rounds 1] [--workers 2] [--data DIR]

Each round runs `multihead run --no-cache` once per runner, alternating,
each in its own process and home, on the same data and config; the figure
is the median wall time per component and in all. On 2 cores the workers
cost more than they give at these sizes: each Beam step starts its worker
processes, which import TensorFlow, TFX and Beam before any work (the
README's `beam` row says when to choose which). Target: measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

from bench.common import BENCH_HOME, machine, median, result, save
from pipeline.config_file import DEFAULT_CONFIG

BEAM_STEPS = ("CsvExampleGen", "StatisticsGen", "Transform", "MultiHeadEvaluator")


def _config(folder: str, runner: str, workers: int) -> str:
    """The bundled config with the runner chosen (its data path made absolute)."""
    with open(DEFAULT_CONFIG) as f:
        config = yaml.safe_load(f)
    config["data"] = os.path.normpath(os.path.join(os.path.dirname(DEFAULT_CONFIG), config["data"]))
    if runner != "local":
        config["beam"] = {"runner": runner, "workers": workers}
    path = os.path.join(folder, f"{runner}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def _run(config: str, data: str | None, home: str) -> dict:
    shutil.rmtree(home, ignore_errors=True)
    command = [sys.executable, "-m", "pipeline.cli", "run", "--config", config, "--no-cache"]
    command += ["--home", home] + (["--data", data] if data else [])
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{completed.stderr[-3000:]}")
    with open(os.path.join(home, "runs", "latest.json")) as f:
        summary = json.load(f)
    seconds = {name: c["seconds"] for name, c in summary["components"].items()}
    return {"total": summary["seconds"], **seconds}


def run(rounds: int, workers: int, data: str | None, work: str) -> dict:
    runners = ("local", "multiprocess")
    measured: dict[str, list[dict]] = {r: [] for r in runners}
    with tempfile.TemporaryDirectory() as folder:
        configs = {r: _config(folder, r, workers) for r in runners}
        for index in range(rounds):
            order = runners if index % 2 == 0 else runners[::-1]
            for runner in order:
                measured[runner].append(_run(configs[runner], data, os.path.join(work, runner)))
                print(
                    f"round {index + 1} {runner}: {measured[runner][-1]['total']:.1f} s", flush=True
                )
    medians = {
        r: {k: median([m[k] for m in runs]) for k in runs[0]} for r, runs in measured.items()
    }
    print(f"\nBeam steps local vs {workers} worker processes, {rounds} round(s), {machine()}")
    for step in (*BEAM_STEPS, "total"):
        local, multi = medians["local"][step], medians["multiprocess"][step]
        ratio = multi / local
        print(f"  {step:<20} local {local:7.1f} s  multiprocess {multi:7.1f} s  ({ratio:.2f}x)")
    ratio = medians["multiprocess"]["total"] / medians["local"]["total"]
    lines = [result("workers", f"multiprocess_{workers}_vs_local_wall", ratio, "measured", True)]
    return {"medians": medians, "runs": measured, "results": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", help="a CSV folder (default: the bundled taxi sample)")
    parser.add_argument("--home", default=os.path.join(BENCH_HOME, "workers"))
    args = parser.parse_args(argv)
    save("workers", run(args.rounds, args.workers, args.data, args.home), smoke=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
