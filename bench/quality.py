"""Benchmark 3, quality: each disjoint head vs the same head trained alone,
per-head early stopping vs fixed steps, and a shared backbone with each loss
balancing vs each head alone, over several seeds.

    python -m bench.quality [--seeds 3] [--steps N] [--smoke]

Variants, each on the same transformed taxi data and input pipeline:
  disjoint        the three heads, own towers, own optimizers, `--steps`
                  fixed steps (300: the hand-tuned count before early stopping)
  single          one model per head, trained alone (same tower, same steps)
  early_stopping  disjoint with the config's per-head early stopping, at most
                  the config's steps (3000); its heads' stop steps are printed
  joint_backbone_<balancing>  the three heads on a shared backbone [128, 64]
                  that the towers read, one optimizer; balancing none (the summed
                  loss, where the large trip_seconds loss sets the pace),
                  uncertainty, pcgrad or gradnorm
  joint_skip_<balancing>  the same, the towers reading the encoded features
                  beside the backbone's output (backbone.skip)
  disjoint_skip_<balancing>  each head's own optimizer on its tower, one backbone
                  optimizer applying the balanced gradient (update:
                  backbone_optimizer), with the skip connection
  disjoint_backbone  the backbone without skip, each head's optimizer updating it
Targets: every disjoint head within 1% (relative) of its single-task model;
every early-stopped head no worse than the fixed steps; with balancing,
every shared-backbone head within 1% of the head alone (one RESULT line per
backbone variant: its worst head's gap).
"""

from __future__ import annotations

import argparse
import statistics

from bench.common import BENCH_HOME, DEFAULT_CONFIG, machine, prepare, result, save
from bench.models import Workbench, head_metric, variant
from trainer_module.balancing import BALANCING

BACKBONE = {"layers": [128, 64], "update": "per_head"}
FIXED_STEPS = 300
# The shared-backbone variants: name -> (training.mode, training.backbone).
BACKBONES = {
    **{f"joint_backbone_{b}": ("joint", {**BACKBONE, "balancing": b}) for b in BALANCING},
    **{f"joint_skip_{b}": ("joint", {**BACKBONE, "balancing": b, "skip": True}) for b in BALANCING},
    **{
        f"disjoint_skip_{b}": (
            "disjoint",
            {**BACKBONE, "update": "backbone_optimizer", "balancing": b, "skip": True},
        )
        for b in BALANCING
    },
    "disjoint_backbone": ("disjoint", BACKBONE),
}


def _gap(higher: bool, value: float, reference: float) -> float:
    """How much worse `value` is than `reference`, relative (positive: worse)."""
    return ((reference - value) if higher else (value - reference)) / abs(reference)


def _head_gap(config, scores: dict, name: str, head: str) -> float:
    """How much worse variant `name`'s mean is than the head alone's."""
    _, higher = head_metric(config.head(head).task)
    return _gap(
        higher, statistics.mean(scores[name][head]), statistics.mean(scores["single"][head])
    )


def run(home: str, seeds: int, steps: int, config_path: str = DEFAULT_CONFIG) -> dict:
    bench = Workbench(prepare(home, config_path))
    config = bench.prep.config
    heads = [h.name for h in config.heads]
    scores: dict[str, dict[str, list[float]]] = {}
    stops: dict[str, list[int]] = {h: [] for h in heads}
    seconds: dict[str, list[float]] = {"disjoint": [], "early_stopping": []}

    def record(name: str, metrics: dict) -> None:
        for head, values in metrics.items():
            metric, _ = head_metric(config.head(head).task)
            scores.setdefault(name, {}).setdefault(head, []).append(values[metric])

    for seed in range(1, seeds + 1):
        fixed = variant(config, seed=seed, early_stopping=None)
        model, spent = bench.train(fixed, steps)
        record("disjoint", bench.evaluate(model, fixed))
        seconds["disjoint"].append(spent)
        stopping = variant(config, seed=seed)
        model, spent, report = bench.train_with_report(stopping, config.training.steps)
        record("early_stopping", bench.evaluate(model, stopping))
        seconds["early_stopping"].append(spent)
        for head in heads:
            stops[head].append(report[head]["stopped_at"] or config.training.steps)
        for head in heads:
            alone = variant(config, heads=[head], seed=seed, early_stopping=None)
            model, _ = bench.train(alone, steps)
            record("single", bench.evaluate(model, alone))
        for name, (mode, backbone) in BACKBONES.items():
            shared = variant(config, seed=seed, mode=mode, backbone=backbone, early_stopping=None)
            model, _ = bench.train(shared, steps)
            record(name, bench.evaluate(model, shared))
        print(f"seed {seed} done", flush=True)

    print(f"\nquality over {seeds} seed(s), {steps} fixed steps, {machine()}")
    print(f"{'variant':<26} " + " ".join(f"{h:>24}" for h in heads))
    for name, per_head in scores.items():
        cells = []
        for head in heads:
            values = per_head[head]
            spread = statistics.pstdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):>14.4g} ± {spread:<7.2g}")
        print(f"{name:<26} " + " ".join(cells))
    print(
        "early stopping: stop step per head and seed "
        + ", ".join(f"{h} {stops[h]}" for h in heads)
        + f"; fit seconds {statistics.mean(seconds['early_stopping']):.1f} vs "
        f"{statistics.mean(seconds['disjoint']):.1f} for {steps} fixed steps"
    )
    lines = []
    for head in heads:
        metric, higher = head_metric(config.head(head).task)
        mean = {name: statistics.mean(per_head[head]) for name, per_head in scores.items()}
        gap = _gap(higher, mean["disjoint"], mean["single"])
        lines.append(
            result("quality", f"{head}_{metric}_gap_vs_single", gap, "<=0.01", gap <= 0.01)
        )
        stopped = _gap(higher, mean["early_stopping"], mean["disjoint"])
        lines.append(
            result(
                "quality",
                f"{head}_{metric}_early_stopping_gap_vs_{steps}_steps",
                stopped,
                "<=0",
                stopped <= 0,
            )
        )
    for name in BACKBONES:
        worst = max(_head_gap(config, scores, name, head) for head in heads)
        lines.append(
            result("quality", f"{name}_worst_head_gap_vs_single", worst, "<=0.01", worst <= 0.01)
        )
    distinct = len({statistics.median(v) for v in stops.values()}) > 1
    lines.append(
        result("quality", "early_stopping_heads_stop_at_different_steps", distinct, "1", distinct)
    )
    return {"scores": scores, "stops": stops, "seconds": seconds, "results": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=BENCH_HOME)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, help=f"fixed training steps (default {FIXED_STEPS})")
    parser.add_argument("--smoke", action="store_true", help="1 seed, 30 steps")
    args = parser.parse_args(argv)
    seeds, steps = (1, 30) if args.smoke else (args.seeds, args.steps or FIXED_STEPS)
    save("quality", run(args.home, seeds, steps), args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
