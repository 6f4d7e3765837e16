"""Benchmark 2, serving: the pushed model's `serving_default` (every head, one
call) vs K single-head SavedModels called one after another, and vs ONE
single-head model call; in-process through the loaded signatures.

    python -m bench.serving [--calls 300] [--smoke]

Every single-head model carries the same transform (as K separate models
would), so the comparison is one parse + one transform + K towers against K
of each. Calls are interleaved (multi, K singles, one single, repeat) so
machine noise hits all alike. Targets: <= 0.35x latency and >= 3x throughput
vs K models; <= 1.10x one single-head call.
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
    records = raw_examples(bench.prep, 256)
    lines, figures = [], {}
    print(f"\nserving, {calls} calls per batch size, K={len(heads)}, {machine()}")
    for batch in (1, 256):
        examples = tf.constant(records[:batch])
        for fn in serve.values():  # warm up
            fn(examples=examples)
        latency = {"multi": [], "k_models": [], "one_single": []}
        rounds = calls if batch == 1 else max(calls // 10, 3)
        for _ in range(rounds):
            start = time.perf_counter()
            serve["multi"](examples=examples)
            latency["multi"].append(time.perf_counter() - start)
            start = time.perf_counter()
            for head in heads:
                serve[head](examples=examples)
            latency["k_models"].append(time.perf_counter() - start)
            start = time.perf_counter()
            serve[heads[0]](examples=examples)
            latency["one_single"].append(time.perf_counter() - start)
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
            result("serving", f"b{batch}_p50_vs_one_single", ratio, "<=1.10", ratio <= 1.10)
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
