"""Benchmark 1, pipeline cost: the multi-head pipeline vs two stock-TFX ways
of getting K models of the same data.

    python -m bench.pipelines [--rows N]

  ours  one multi-head pipeline (one Transform, MultiHeadTrainer, one evaluator)
  (a)   K separate single-head pipelines, each its own ExampleGen, Transform,
        stock Trainer (single-head Keras model), stock Evaluator and Pusher
  (b)   one pipeline whose single Transform feeds K stock
        Trainer -> Evaluator -> Pusher branches
Each pipeline runs in its own process, without cache, with the same Beam
arguments and training steps; wall time and CPU seconds are measured per
process. Targets: ours <= 0.35x (a) and <= 0.55x (b) wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time

from bench.common import BENCH_HOME, machine, result, save
from pipeline.config_file import DEFAULT_CONFIG, load_config


def _timed(command: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{completed.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run_stock(heads: list[str], data_dir: str, home: str, name: str) -> None:
    """One stock pipeline in this process (called in a subprocess)."""
    from tfx import v1 as tfx

    from bench.stock import stock_pipeline

    config = load_config(DEFAULT_CONFIG)
    tfx.orchestration.LocalDagRunner().run(stock_pipeline(config, heads, data_dir, home, name))


def run(data_dir: str, work: str) -> dict:
    config = load_config(DEFAULT_CONFIG)
    heads = [h.name for h in config.heads]
    shutil.rmtree(work, ignore_errors=True)
    me = [sys.executable, "-m", "bench.pipelines"]
    measured = {}
    measured["ours"] = [
        _timed(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "run",
                "--data",
                data_dir,
                "--no-cache",
                "--home",
                os.path.join(work, "ours"),
            ]
        )
    ]
    measured["a"] = [
        _timed(
            me + ["--stock", head, "--data", data_dir, "--home", os.path.join(work, f"a-{head}")]
        )
        for head in heads
    ]
    measured["b"] = [
        _timed(
            me + ["--stock", ",".join(heads), "--data", data_dir, "--home", os.path.join(work, "b")]
        )
    ]
    totals = {k: (sum(w for w, _ in v), sum(c for _, c in v)) for k, v in measured.items()}
    print(f"\npipeline cost, K={len(heads)}, data {data_dir}, {machine()}")
    for name, (wall, cpu) in totals.items():
        print(
            f"  {name:<5} wall {wall:7.1f} s  cpu {cpu:7.1f} s  ({len(measured[name])} process(es))"
        )
    lines = []
    for other, target in (("a", 0.35), ("b", 0.55)):
        wall = totals["ours"][0] / totals[other][0]
        cpu = totals["ours"][1] / totals[other][1]
        lines.append(result("pipelines", f"wall_vs_{other}", wall, f"<={target}", wall <= target))
        lines.append(result("pipelines", f"cpu_vs_{other}", cpu, f"<={target}", cpu <= target))
    figures = {k: {"wall_s": w, "cpu_s": c} for k, (w, c) in totals.items()}
    return {"figures": figures, "results": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=load_config(DEFAULT_CONFIG).data_dir)
    parser.add_argument("--home", default=os.path.join(BENCH_HOME, "pipelines"))
    parser.add_argument("--stock", help=argparse.SUPPRESS)  # internal: run one stock pipeline
    args = parser.parse_args(argv)
    if args.stock:
        heads = args.stock.split(",")
        run_stock(
            heads, args.data, args.home, "stock-" + "-".join(h.replace("_", "-") for h in heads)
        )
        return 0
    save("pipelines", run(args.data, args.home), smoke=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
