"""Benchmark 13, the evaluator's cost per eval row: before and after.

    python -m bench.evaluator [--rows 150000] [--repeats 3] [--sliced] [--compared] [--profile]

MultiHeadEvaluator's executor (in this process: TFMA on the DirectRunner,
the degenerate check, the verdicts) on the eval split of one pipeline run
on the taxi data, repeated to `--rows` eval rows (bench/slices.py's
repetition), in two variants that alternate, `--repeats` times each
(median):

- before: TFMA as it is: its per-example combiners, its split of batches
  into examples with every raw column and the serialized examples carried
  into it, its positional calls of the signatures (the evaluator as it was
  up to session 9, and stock TFMA);
- after: the batched metrics (components/evaluator/batched_metrics.py and
  combiners.py),
  only the slicing columns carried, the split of unbatch.py and the
  signatures called by name (models.py); without `--sliced` and
  `--compared` (no slicing, no intervals), whole batches: no split at all.

Prints the seconds, the ms per eval row and the ratio, and checks that both
variants give the same metrics to 4 significant digits. `--profile` runs
each variant once more under cProfile and prints where the time goes,
grouped by stage. Goal (issue 13): at most 0.15 ms per eval row at 1.5M
rows (500k eval rows), from 0.55.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import math
import os
import pstats
import shutil

from bench.common import BENCH_HOME, machine, median, prepare, result, save
from bench.slices import _repeated, _spec, execute

TARGET_MS = 0.15
VARIANTS = ("before", "after")

# Where a profiled function's own time goes: the first pattern its file
# or name matches.
STAGES = [
    ("metric combiners (per example)", ("tensorflow_model_analysis/metrics/",)),
    (
        "batched metrics",
        ("components/evaluator/batched_metrics", "components/evaluator/combiners"),
    ),
    (
        "splitting batches into examples",
        ("tensorflow_model_analysis/utils/util.py", "components/evaluator/unbatch"),
    ),
    ("slicing", ("tensorflow_model_analysis/slicer/", "slice_key_extractor")),
    ("TFMA's evaluator stages", ("tensorflow_model_analysis/evaluators/",)),
    (
        "the models (TensorFlow)",
        (
            "tensorflow/",
            "tensorflow_model_analysis/utils/model_util",
            "components/evaluator/models",
        ),
    ),
    ("reading and decoding examples", ("tfx_bsl", "tfrecordio", "pyarrow")),
    ("Beam's runner", ("apache_beam",)),
]


@contextlib.contextmanager
def variant(name: str):
    """The evaluator as it was (`before`) or as it is (`after`)."""
    import tensorflow_model_analysis as tfma

    from components.evaluator import batched_metrics, executor, results, unbatch

    if name == "after":
        yield
        return
    saved = (results._what_metrics_read, unbatch.extractor, executor.shared_model)
    saved_batched = dict(batched_metrics.BATCHED)
    batched_metrics.BATCHED.clear()
    results._what_metrics_read = lambda extract, columns: {
        k: v for k, v in extract.items() if k != results.TRANSFORMED_FEATURES_KEY
    }
    unbatch.extractor = tfma.extractors.UnbatchExtractor
    executor.shared_model = lambda path, model, config: tfma.default_eval_shared_model(
        eval_saved_model_path=path, model_name=model, eval_config=config
    )
    try:
        yield
    finally:
        batched_metrics.BATCHED.update(saved_batched)
        results._what_metrics_read, unbatch.extractor, executor.shared_model = saved


def evaluate(config, examples_uri: str, model_uri: str, sliced: bool, compared: bool):
    """Seconds of one MultiHeadEvaluator execution and its overall metrics."""
    from components.evaluator.results import OVERALL, read_results

    seconds, out = execute(_spec(config, sliced, compared), examples_uri, model_uri, compared)
    metrics = read_results(os.path.join(out, "evaluation"))[OVERALL].metrics
    shutil.rmtree(out, ignore_errors=True)
    return seconds, metrics


def _same_to_4_digits(a: dict, b: dict) -> list[str]:
    differ = []
    for model, outputs in a.items():
        for output, values in outputs.items():
            for name, value in values.items():
                other = b[model][output][name]
                if not math.isclose(value, other, rel_tol=5e-5) and not (
                    math.isnan(value) and math.isnan(other)
                ):
                    differ.append(f"{model}/{output}/{name}: {value} vs {other}")
    return differ


def _stage(func: tuple) -> str | None:
    where = f"{func[0]}:{func[2]}"
    return next((name for name, patterns in STAGES if any(p in where for p in patterns)), None)


def breakdown(profile: cProfile.Profile, depth: int = 8) -> dict[str, float]:
    """Own time per stage (STAGES), seconds.

    A function outside the stages' files (a built-in, numpy, pickling) is
    charged to its callers' stages, in proportion to the time each caller
    spent in it, up to `depth` callers up; what is still unplaced is "other".
    """
    stats = pstats.Stats(profile).stats
    shares: dict[tuple, dict[str, float]] = {}
    active: set[tuple] = set()

    def share(func: tuple, left: int, edge: int) -> dict[str, float]:
        stage = _stage(func)
        if stage:
            return {stage: 1.0}
        if left == 0 or func not in stats or func in active:
            return {"other": 1.0}
        if edge == 3 and func in shares:
            return shares[func]
        callers = stats[func][4]
        total = sum(timing[edge] for timing in callers.values())
        if not total:
            return {"other": 1.0}
        active.add(func)
        found: dict[str, float] = {}
        for caller, timing in callers.items():
            for name, fraction in share(caller, left - 1, 3).items():
                found[name] = found.get(name, 0.0) + fraction * timing[edge] / total
        active.discard(func)
        if edge == 3:
            shares[func] = found
        return found

    found: dict[str, float] = {}
    for func, (_, _, own, _, _) in stats.items():
        # the time in it from each caller (edge 2), then up by cumulative time (3)
        for name, fraction in share(func, depth, 2).items():
            found[name] = found.get(name, 0.0) + own * fraction
    return found


def run(home: str, rows: int, repeats: int, sliced: bool, compared: bool, profile: bool) -> dict:
    prepared = prepare(home)
    work = os.path.join(home, "bench-evaluator")
    uri, eval_rows = _repeated(prepared.raw_examples, rows, work)
    print(f"[{eval_rows} eval rows, sliced={sliced}, compared={compared}]", flush=True)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    metrics = {}
    for repeat in range(repeats):
        for name in VARIANTS if repeat % 2 == 0 else VARIANTS[::-1]:
            with variant(name):
                seconds, metrics[name] = evaluate(
                    prepared.config, uri, prepared.model, sliced, compared
                )
            times[name].append(seconds)
            per_row_ms = 1000 * seconds / eval_rows
            print(f"  {name}: {seconds:.1f} s ({per_row_ms:.3f} ms/row)", flush=True)
    differ = _same_to_4_digits(metrics["before"], metrics["after"])
    per_row = {name: 1000 * median(times[name]) / eval_rows for name in VARIANTS}
    ratio = per_row["before"] / per_row["after"]
    figures = {
        "eval_rows": eval_rows,
        "seconds": times,
        "ms_per_row": per_row,
        "speedup": ratio,
        "metrics_differ": differ,
    }
    if profile:
        figures["profile_s"] = {}
        for name in VARIANTS:
            profiler = cProfile.Profile()
            with variant(name):
                profiler.enable()
                evaluate(prepared.config, uri, prepared.model, sliced, compared)
                profiler.disable()
            figures["profile_s"][name] = breakdown(profiler)
    print(f"\nevaluator, {machine()}")
    for name in VARIANTS:
        print(f"  {name:<7} {median(times[name]):8.1f} s  {per_row[name]:.3f} ms per eval row")
    print(f"  speedup {ratio:.2f}x; metrics to 4 digits: {'same' if not differ else differ}")
    for name, stages in figures.get("profile_s", {}).items():
        total = sum(stages.values())
        print(f"  profile of {name} ({total:.1f} s under cProfile):")
        for stage, seconds in sorted(stages.items(), key=lambda item: -item[1]):
            print(f"    {stage:<34} {seconds:7.1f} s  {100 * seconds / total:5.1f}%")
    lines = [
        result("evaluator", "speedup_after_vs_before", ratio, "measured", True),
        result(
            "evaluator",
            f"ms_per_eval_row_{eval_rows}",
            per_row["after"],
            f"<={TARGET_MS}",
            per_row["after"] <= TARGET_MS,
        ),
        result("evaluator", "metrics_differ_to_4_digits", len(differ), "==0", not differ),
    ]
    shutil.rmtree(work, ignore_errors=True)
    return {"figures": figures, "results": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=BENCH_HOME)
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sliced", action="store_true")
    parser.add_argument("--compared", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    outcome = run(args.home, args.rows, args.repeats, args.sliced, args.compared, args.profile)
    save("evaluator", outcome, smoke=False, stem="evaluator_profile" if args.profile else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
