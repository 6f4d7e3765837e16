"""Benchmark 3, quality: each disjoint head vs the same head trained alone, and
vs joint (summed-loss) training, over several seeds.

    python -m bench.quality [--seeds 3] [--steps N] [--smoke]

Variants, each on the same transformed taxi data and input pipeline:
  disjoint        the three heads, own towers, own optimizers (the default)
  single          one model per head, trained alone (same tower)
  joint_backbone  the three heads on a shared backbone [128, 64], one optimizer
                  on the summed loss: the large trip_seconds loss sets the pace
  disjoint_backbone  the same backbone, each head's optimizer updating it
Target: every disjoint head within 1% (relative) of its single-task model.
"""

from __future__ import annotations

import argparse
import statistics

from bench.common import BENCH_HOME, DEFAULT_CONFIG, machine, prepare, result, save
from bench.models import Workbench, head_metric, variant

BACKBONE = {"layers": [128, 64], "update": "per_head"}


def run(home: str, seeds: int, steps: int, config_path: str = DEFAULT_CONFIG) -> dict:
    bench = Workbench(prepare(home, config_path))
    config = bench.prep.config
    heads = [h.name for h in config.heads]
    scores: dict[str, dict[str, list[float]]] = {}

    def record(name: str, metrics: dict) -> None:
        for head, values in metrics.items():
            metric, _ = head_metric(config.head(head).task)
            scores.setdefault(name, {}).setdefault(head, []).append(values[metric])

    for seed in range(1, seeds + 1):
        disjoint = variant(config, seed=seed)
        model, _ = bench.train(disjoint, steps)
        record("disjoint", bench.evaluate(model, disjoint))
        for head in heads:
            alone = variant(config, heads=[head], seed=seed)
            model, _ = bench.train(alone, steps)
            record("single", bench.evaluate(model, alone))
        joint = variant(config, seed=seed, mode="joint", backbone=BACKBONE)
        model, _ = bench.train(joint, steps)
        record("joint_backbone", bench.evaluate(model, joint))
        shared = variant(config, seed=seed, backbone=BACKBONE)
        model, _ = bench.train(shared, steps)
        record("disjoint_backbone", bench.evaluate(model, shared))
        print(f"seed {seed} done", flush=True)

    print(f"\nquality over {seeds} seed(s), {steps} steps each, {machine()}")
    print(f"{'variant':<18} " + " ".join(f"{h:>24}" for h in heads))
    for name, per_head in scores.items():
        cells = []
        for head in heads:
            values = per_head[head]
            spread = statistics.pstdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):>14.4g} ± {spread:<7.2g}")
        print(f"{name:<18} " + " ".join(cells))
    lines = []
    for head in heads:
        metric, higher = head_metric(config.head(head).task)
        disjoint = statistics.mean(scores["disjoint"][head])
        single = statistics.mean(scores["single"][head])
        # positive = disjoint worse than single
        gap = ((single - disjoint) if higher else (disjoint - single)) / abs(single)
        lines.append(
            result("quality", f"{head}_{metric}_gap_vs_single", gap, "<=0.01", gap <= 0.01)
        )
        joint = statistics.mean(scores["joint_backbone"][head])
        joint_gap = ((single - joint) if higher else (joint - single)) / abs(single)
        print(f"info {head}: joint_backbone gap vs single {joint_gap:+.4f}")
    return {"scores": scores, "results": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=BENCH_HOME)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, help="training steps (default: the config's)")
    parser.add_argument("--smoke", action="store_true", help="1 seed, 30 steps")
    args = parser.parse_args(argv)
    from pipeline.config_file import load_config

    default_steps = load_config(DEFAULT_CONFIG).training.steps
    seeds, steps = (1, 30) if args.smoke else (args.seeds, args.steps or default_steps)
    save("quality", run(args.home, seeds, steps), args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
