"""Benchmark 1, pipeline cost: the multi-head pipeline vs two stock-TFX ways
of getting K models of the same data.

    python -m bench.pipelines [--rounds 3] [--data DIR]

  ours  one multi-head pipeline (one Transform, MultiHeadTrainer, one evaluator)
  (a)   K separate single-head pipelines, each its own ExampleGen, Transform,
        stock Trainer (single-head Keras model), stock Evaluator and Pusher
  (b)   one pipeline whose single Transform feeds K stock
        Trainer -> Evaluator -> Pusher branches
Each pipeline runs in its own process, without cache, with the same Beam
arguments and training steps; wall time and CPU seconds are measured per
process. The three are run in turns, `--rounds` times, the order rotating
from round to round (a slow minute of the machine falls on each in turn),
and the ratios are of the medians. Targets: ours <= 0.35x (a) and <= 0.55x
(b) wall time (issue 13: <= 0.45x (b)).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time

from bench.common import BENCH_HOME, machine, median, result, save
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


def _variants(data_dir: str, work: str, heads: list[str]) -> dict[str, list[list[str]]]:
    """Each variant's commands: its processes, run one after the other."""
    me = [sys.executable, "-m", "bench.pipelines"]
    ours = [sys.executable, "-m", "pipeline.cli", "run", "--data", data_dir, "--no-cache"]
    return {
        "ours": [ours + ["--home", os.path.join(work, "ours")]],
        "a": [
            me + ["--stock", head, "--data", data_dir, "--home", os.path.join(work, f"a-{head}")]
            for head in heads
        ],
        "b": [
            me + ["--stock", ",".join(heads), "--data", data_dir, "--home", os.path.join(work, "b")]
        ],
    }


def run(data_dir: str, work: str, rounds: int = 3) -> dict:
    config = load_config(DEFAULT_CONFIG)
    heads = [h.name for h in config.heads]
    variants = _variants(data_dir, work, heads)
    names = list(variants)
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            shutil.rmtree(work, ignore_errors=True)
            times = [_timed(command) for command in variants[name]]
            measured[name].append((sum(w for w, _ in times), sum(c for _, c in times)))
            print(f"round {index + 1} {name}: wall {measured[name][-1][0]:.1f} s", flush=True)
    totals = {
        name: (median([w for w, _ in runs]), median([c for _, c in runs]))
        for name, runs in measured.items()
    }
    print(f"\npipeline cost, K={len(heads)}, data {data_dir}, {rounds} round(s), {machine()}")
    for name, (wall, cpu) in totals.items():
        walls = ", ".join(f"{w:.1f}" for w, _ in measured[name])
        print(f"  {name:<5} median wall {wall:7.1f} s  cpu {cpu:7.1f} s  (walls {walls})")
    lines = []
    for other, target in (("a", 0.35), ("b", 0.45)):
        wall = totals["ours"][0] / totals[other][0]
        cpu = totals["ours"][1] / totals[other][1]
        lines.append(result("pipelines", f"wall_vs_{other}", wall, f"<={target}", wall <= target))
        lines.append(result("pipelines", f"cpu_vs_{other}", cpu, f"<={target}", cpu <= target))
    figures = {k: {"wall_s": w, "cpu_s": c} for k, (w, c) in totals.items()}
    runs = {k: [{"wall_s": w, "cpu_s": c} for w, c in v] for k, v in measured.items()}
    return {"figures": figures, "runs": runs, "results": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=load_config(DEFAULT_CONFIG).data_dir)
    parser.add_argument("--home", default=os.path.join(BENCH_HOME, "pipelines"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stock", help=argparse.SUPPRESS)  # internal: run one stock pipeline
    args = parser.parse_args(argv)
    if args.stock:
        heads = args.stock.split(",")
        run_stock(
            heads, args.data, args.home, "stock-" + "-".join(h.replace("_", "-") for h in heads)
        )
        return 0
    save("pipelines", run(args.data, args.home, args.rounds), smoke=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
