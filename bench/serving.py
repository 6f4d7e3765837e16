"""Benchmark 2, serving: the pushed model's `serving_default` (every head, one
call) vs K single-head SavedModels called one after another, and vs ONE
single-head model call; in-process through the loaded signatures.

    python -m bench.serving [--calls 300] [--smoke]

Every single-head model carries the same transform (as K separate models
would), so the comparison is one parse + one transform + K towers against K
of each. Calls are interleaved (multi, K singles, one single, the order
rotating every round) so machine noise and cache effects hit all alike.
Targets: <= 0.35x latency and >= 3x throughput vs K models; <= 1.05x one
single-head call, at batch 1 and at batch 256.
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import tensorflow as tf

from bench.common import BENCH_HOME, DEFAULT_CONFIG, machine, percentile, prepare, result, save
from bench.models import Workbench, variant
from trainer_module.export import export


def raw_examples(prep, count: int) -> list[bytes]:
    files = sorted(glob.glob(os.path.join(prep.raw_examples, "Split-eval", "*")))
    records = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").take(count):
        records.append(record.numpy())
    return records


def build_models(bench: Workbench, folder: str, steps: int) -> dict[str, str]:
    config = bench.prep.config
    paths = {"multi": os.path.join(folder, "multi")}
    if not os.path.exists(paths["multi"]):
        model, _ = bench.train(config, steps)
        export(model, bench.tft_output, config, paths["multi"])
    for head in config.heads:
        path = os.path.join(folder, f"single_{head.name}")
        paths[head.name] = path
        if not os.path.exists(path):
            alone = variant(config, heads=[head.name])
            model, _ = bench.train(alone, steps)
            export(model, bench.tft_output, alone, path)
    return paths


def run(home: str, calls: int, steps: int, config_path: str = DEFAULT_CONFIG) -> dict:
    bench = Workbench(prepare(home, config_path))
    heads = [h.name for h in bench.prep.config.heads]
    paths = build_models(bench, os.path.join(home, "bench-serving", f"steps{steps}"), steps)
    serve = {
        name: tf.saved_model.load(path).signatures["serving_default"]
        for name, path in paths.items()
    }
    # "One single-head call" is a load of its own: called once a round, as the
    # multi-head model is, not warmed by the K models' call of the same model.
    serve["one_single"] = tf.saved_model.load(paths[heads[0]]).signatures["serving_default"]
    records = raw_examples(bench.prep, 256)
    lines, figures = [], {}
    print(f"\nserving, {calls} calls per batch size, K={len(heads)}, {machine()}")
    for batch in (1, 256):
        examples = tf.constant(records[:batch])
        for fn in serve.values():  # warm up
            fn(examples=examples)
        calls_of = {
            "multi": [serve["multi"]],
            "k_models": [serve[head] for head in heads],
            "one_single": [serve["one_single"]],
        }
        order = list(calls_of)
        latency: dict[str, list[float]] = {name: [] for name in order}
        rounds = calls if batch == 1 else max(calls // 3, 3)
        for round_ in range(rounds):
            for name in order[round_ % 3 :] + order[: round_ % 3]:
                start = time.perf_counter()
                for fn in calls_of[name]:
                    fn(examples=examples)
                latency[name].append(time.perf_counter() - start)
        p50 = {k: percentile(v, 50) * 1e3 for k, v in latency.items()}
        p99 = {k: percentile(v, 99) * 1e3 for k, v in latency.items()}
        throughput = {k: batch * len(v) / sum(v) for k, v in latency.items()}
        for name in latency:
            print(
                f"  batch {batch:>3} {name:<10} p50 {p50[name]:8.3f} ms  p99 {p99[name]:8.3f} ms  "
                f"{throughput[name]:10.0f} examples/s"
            )
        figures[f"batch_{batch}"] = {"p50_ms": p50, "p99_ms": p99, "examples_per_s": throughput}
        ratio = p50["multi"] / p50["k_models"]
        lines.append(result("serving", f"b{batch}_p50_vs_k_models", ratio, "<=0.35", ratio <= 0.35))
        ratio = p99["multi"] / p99["k_models"]
        lines.append(result("serving", f"b{batch}_p99_vs_k_models", ratio, "<=0.35", ratio <= 0.35))
        gain = throughput["multi"] / throughput["k_models"]
        lines.append(result("serving", f"b{batch}_throughput_vs_k_models", gain, ">=3", gain >= 3))
        ratio = p50["multi"] / p50["one_single"]
        lines.append(
            result("serving", f"b{batch}_p50_vs_one_single", ratio, "<=1.05", ratio <= 1.05)
        )
    return {"figures": figures, "results": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=BENCH_HOME)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--steps", type=int, default=300, help="training steps of each model")
    parser.add_argument("--smoke", action="store_true", help="20 calls, models of 20 steps")
    args = parser.parse_args(argv)
    calls, steps = (20, 20) if args.smoke else (args.calls, args.steps)
    save("serving", run(args.home, calls, steps), args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
