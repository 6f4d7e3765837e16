"""Benchmark 7, a composed model's serving cost: `serving_default` of a model
composed by a per-head release (two parts: two transforms from one parse)
vs the trained model it is made from (one part).

    python -m bench.composed [--calls 300] [--smoke]

The pushed model of a taxi run is composed with itself, keeping one head
from the "served" copy: the heads and weights are the same, so the ratio is
the price of the second transform and the second tower stack alone. Calls
alternate (trained, composed) so machine noise hits both alike. What the
issue asks is a measurement, not a target: the RESULT line reports the
ratio against the bound of two full model calls (2.0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

import tensorflow as tf

from bench.common import BENCH_HOME, DEFAULT_CONFIG, machine, percentile, prepare, result, save
from bench.serving import raw_examples
from trainer_module.compose import compose


def run(home: str, calls: int, config_path: str = DEFAULT_CONFIG) -> dict:
    prep = prepare(home, config_path)
    trained = os.path.join(prep.model, "Format-Serving")
    composed = os.path.join(home, "bench-composed")
    shutil.rmtree(composed, ignore_errors=True)
    kept = prep.config.heads[0].name
    compose(trained, trained, [kept], composed, "the trained model")
    serve = {
        name: tf.saved_model.load(path).signatures["serving_default"]
        for name, path in (("trained", trained), ("composed", composed))
    }
    records = raw_examples(prep, 256)
    outcome: dict = {"kept_head": kept, "calls": calls, "batches": {}}
    for batch in (1, 256):
        examples = tf.constant((records * batch)[:batch])
        for function in serve.values():  # warm up
            function(examples=examples)
        times: dict[str, list[float]] = {name: [] for name in serve}
        for _ in range(calls):
            for name, function in serve.items():
                start = time.perf_counter()
                function(examples=examples)
                times[name].append(time.perf_counter() - start)
        p50 = {name: percentile(values, 50) for name, values in times.items()}
        ratio = p50["composed"] / p50["trained"]
        outcome["batches"][batch] = {
            "p50_ms": {k: 1000 * v for k, v in p50.items()},
            "ratio": ratio,
        }
        result("composed", f"b{batch}_p50_ratio", ratio, "<2.0 (two model calls)", ratio < 2.0)
    outcome["machine"] = machine()
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--home", default=BENCH_HOME)
    parser.add_argument("--smoke", action="store_true", help="a few calls, a quick check")
    args = parser.parse_args()
    outcome = run(args.home, 5 if args.smoke else args.calls)
    save("composed", outcome, args.smoke)


if __name__ == "__main__":
    main()
