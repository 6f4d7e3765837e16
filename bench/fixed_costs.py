"""Benchmark 14, a run's fixed costs: what each of three fixes saves, side by side.

    python -m bench.fixed_costs [--pickles 2000] [--rounds 3]

- Beam pickles (a dumps and a loads of the DoFn of `beam.Map(len)`, the
  kind of object Beam pickles about 16,000 times in a 3,000-row run) with dill's stock `_trace` and
  with `components.beam_costs`'s, in turns, in this process (TensorFlow,
  TFX, Beam and TFMA loaded, so the loggers are those of a run).
- Beam's set-up of a DoFn (`DoFnSignature`, built for each bundle), as many
  times, with Beam's signature inspection and with the memoized one, in turns.
- A fresh process importing `tfx.v1` against one importing the
  `tfx.components` the pipeline uses, in turns.

Prints the medians and their ratios; no target (measured).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.common import Timer, machine, median, result, save

IMPORTS = {
    "tfx_v1": "from tfx import v1",
    "tfx_components": "import tfx.components, tfx.orchestration.local.local_dag_runner",
}


def pickle_seconds(count: int) -> float:
    import apache_beam as beam
    from apache_beam.internal import pickler

    dofn = beam.Map(len).fn
    with Timer() as timer:
        for _ in range(count):
            pickler.loads(pickler.dumps(dofn))
    return timer.seconds


def dofn_setup_seconds(count: int) -> float:
    import apache_beam as beam
    from apache_beam.runners import common

    dofn = beam.Map(len).fn
    with Timer() as timer:
        for _ in range(count):
            common.DoFnSignature(dofn)
    return timer.seconds


def import_seconds(statement: str) -> float:
    with Timer() as timer:
        subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
    return timer.seconds


def run(pickles: int, rounds: int) -> dict:
    import dill._dill
    import tensorflow_model_analysis  # noqa: F401  (a run's loggers)
    from apache_beam.transforms import core
    from tfx import v1  # noqa: F401

    from components import beam_costs

    setups = ("setup_stock", "setup_memoized")
    times: dict[str, list[float]] = {k: [] for k in ("stock", "cheap", *setups, *IMPORTS)}
    for _ in range(rounds):
        dill._dill._trace = beam_costs.STOCK_TRACE
        times["stock"].append(pickle_seconds(pickles))
        beam_costs.cheap_dill_trace()
        times["cheap"].append(pickle_seconds(pickles))
        core.get_function_args_defaults = beam_costs.STOCK_ARGS_DEFAULTS
        times["setup_stock"].append(dofn_setup_seconds(pickles))
        beam_costs.memoized_signatures()
        times["setup_memoized"].append(dofn_setup_seconds(pickles))
        for name, statement in IMPORTS.items():
            times[name].append(import_seconds(statement))
    medians = {name: median(values) for name, values in times.items()}
    print(f"fixed costs, {pickles} pickles and one import each, {rounds} rounds, {machine()}")
    for name in ("stock", "cheap"):
        print(f"  pickle, {name} trace: {medians[name] / pickles * 1e6:.0f} us")
    for name in setups:
        print(f"  DoFn set-up, {name[6:]} signatures: {medians[name] / pickles * 1e6:.0f} us")
    for name in IMPORTS:
        print(f"  import {name}: {medians[name]:.1f} s")
    results = [
        result(
            "fixed_costs",
            "cheap_vs_stock_trace_per_pickle",
            medians["cheap"] / medians["stock"],
            "measured",
            True,
        ),
        result(
            "fixed_costs",
            "memoized_vs_stock_dofn_setup",
            medians["setup_memoized"] / medians["setup_stock"],
            "measured",
            True,
        ),
        result(
            "fixed_costs",
            "tfx_components_vs_tfx_v1_import",
            medians["tfx_components"] / medians["tfx_v1"],
            "measured",
            True,
        ),
    ]
    return {"times": times, "medians": medians, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pickles", type=int, default=2000, help="also the DoFn set-ups")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="100 pickles and set-ups, 1 round")
    args = parser.parse_args()
    if args.smoke:
        args.pickles, args.rounds = 100, 1
    save("fixed_costs", run(args.pickles, args.rounds), args.smoke)


if __name__ == "__main__":
    main()
