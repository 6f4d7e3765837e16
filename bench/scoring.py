"""Benchmark 10, batch scoring: `multihead predict` (every head in one pass)
vs scoring the same rows with K single-head models, one job each.

    python -m bench.scoring [--sizes 150000,1500000] [--rounds 1] [--smoke]

Each job is the whole command in a process of its own (imports, Beam, the
model's load, reading the CSV, writing the output), measured end to end with
its peak RSS; the multi-head job and the K single-head jobs alternate so
machine noise hits both alike. The single-head models carry the same
transform, as K separate models would. Targets: at least 3x the rows/s of
the K jobs (the bound is K: a K-models job repeats everything, reading and
transforming included, K times, while one job still pays K towers and K
output columns), at least 30k rows/s end to end at 1.5M rows on 2 cores,
and peak memory flat (at most 1.1x) from 150k to 1.5M rows.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.common import BENCH_HOME, machine, median, prepare, result, save
from bench.models import Workbench
from bench.scale import measure
from bench.scale_data import ensure
from bench.serving import build_models

SIZES = (150_000, 1_500_000)


def predict(data: str, model: str, output: str) -> dict:
    command = [sys.executable, "-m", "pipeline.cli", "predict", "--data", data]
    return measure(command + ["--model", model, "--output", output])


def run(sizes: list[int], rounds: int, steps: int, home: str) -> dict:
    bench = Workbench(prepare(home))
    heads = [h.name for h in bench.prep.config.heads]
    paths = build_models(bench, os.path.join(home, "bench-scoring", f"steps{steps}"), steps)
    out = os.path.join(home, "bench-scoring", "out")
    os.makedirs(out, exist_ok=True)
    print(f"\nbatch scoring, K={len(heads)}, {rounds} round(s), {machine()}", flush=True)
    figures, lines = {}, []
    for rows in sizes:
        data = ensure(rows, os.path.join(home, "scale", f"data-{rows}"))
        multi, k_models, peaks = [], [], []
        for round_ in range(rounds):
            done = predict(data, paths["multi"], os.path.join(out, "multi.csv"))
            multi.append(done["wall_s"])
            peaks.append(done["tree_peak_rss_mb"])
            total = 0.0
            for head in heads:
                alone = predict(data, paths[head], os.path.join(out, f"{head}.csv"))
                total += alone["wall_s"]
            k_models.append(total)
            print(
                f"  {rows:>9,} rows, round {round_ + 1}: one job {done['wall_s']:.1f} s "
                f"({rows / done['wall_s']:,.0f} rows/s, peak {done['tree_peak_rss_mb']:.0f} MB); "
                f"K jobs {total:.1f} s ({rows / total:,.0f} rows/s)",
                flush=True,
            )
        figures[rows] = {
            "multi_s": median(multi),
            "k_models_s": median(k_models),
            "multi_rows_per_s": rows / median(multi),
            "k_models_rows_per_s": rows / median(k_models),
            "peak_rss_mb": max(peaks),
        }
    largest, smallest = max(sizes), min(sizes)
    gain = figures[largest]["multi_rows_per_s"] / figures[largest]["k_models_rows_per_s"]
    lines.append(result("scoring", f"rows_per_s_vs_k_models_{largest}", gain, ">=3", gain >= 3))
    rate = figures[largest]["multi_rows_per_s"]
    lines.append(result("scoring", f"rows_per_s_{largest}", rate, ">=30000", rate >= 30_000))
    if largest != smallest:
        growth = figures[largest]["peak_rss_mb"] / figures[smallest]["peak_rss_mb"]
        lines.append(
            result("scoring", f"peak_rss_{largest}_vs_{smallest}", growth, "<=1.1", growth <= 1.1)
        )
    return {"figures": figures, "results": lines, "heads": heads}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=BENCH_HOME)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=300, help="training steps of each model")
    parser.add_argument("--smoke", action="store_true", help="15k rows, models of 20 steps")
    args = parser.parse_args(argv)
    sizes = [15_000] if args.smoke else [int(s) for s in args.sizes.split(",")]
    steps = 20 if args.smoke else args.steps
    save("scoring", run(sizes, args.rounds, steps, args.home), args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
