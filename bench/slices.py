"""Benchmark 9, slices: the evaluator's time with two slicings vs none.

    python -m bench.slices [--repeats 3] [--large-repeats 1] [--no-large] [--no-compared]
    python -m bench.slices --ab private|matrices|thresholds|chunks|samples [--repeats 3]
        [--ab-large]
    python -m bench.slices --one 15k|1.5M none|two_slicings[_compared]

The evaluator (MultiHeadEvaluator's executor, in this process: TFMA on the
DirectRunner, the degenerate check, the verdicts) runs on the eval split of
one pipeline run on the 15k-row taxi data, and on that split repeated to
the size of a 1.5M-row data set's eval split (a third: 500k rows), once
without slices and once with `[[payment_type], [trip_start_hour]]` and a
per-slice AUC bound, the two alternating, `--repeats` times each (median).
"compared": the same with the served model evaluated too and the jackknife
intervals on (a retraining run's evaluation), 15k rows only unless
`--large-compared`. Goal: two slicings at most 1.3x the time without.

`--ab CHANGE`: the sliced evaluation under intervals (15k rows, candidate
and compared) with one of this project's changes to TFMA's work and,
alternating, without it (undone in this process): `private`, the private
intermediates kept out of the jackknife's samples (evaluator/jackknife.py);
`matrices`, the confusion matrices from histograms in numpy
(evaluator/matrices.py); `thresholds`, their computation pickled with the
count of an AUC's thresholds instead of the 10,000 floats; `chunks`, the
metrics on whole batches under intervals, each slice's rows in random
chunks of the split (evaluator/unbatch.py), instead of single examples;
`samples`, every jackknife sample of a slice in one stage
(evaluator/jackknife.py) instead of TFMA's stages.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import tempfile

from bench.common import BENCH_HOME, Timer, machine, median, prepare, result, save

SLICES = [["payment_type"], ["trip_start_hour"]]
LARGE_EVAL_ROWS = 500_000  # the eval split (a third) of 1.5M rows
TARGET = 1.3


def _count(pattern: str) -> int:
    import tensorflow as tf

    files = sorted(glob.glob(pattern))
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def _examples(uri: str):
    from tfx.types import artifact_utils, standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = uri
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    return examples


def _repeated(raw_examples: str, rows: int, work: str) -> tuple[str, int]:
    """An examples folder whose eval split repeats `raw_examples`' to >= rows."""
    files = sorted(glob.glob(os.path.join(raw_examples, "Split-eval", "*")))
    per_copy = _count(os.path.join(raw_examples, "Split-eval", "*"))
    copies = -(-rows // per_copy)
    target = os.path.join(work, "Split-eval")
    os.makedirs(target, exist_ok=True)
    os.makedirs(os.path.join(work, "Split-train"), exist_ok=True)
    for copy in range(copies):
        for index, path in enumerate(files):
            name = os.path.join(target, f"data_{copy:04d}_{index}.gz")
            if not os.path.exists(name):
                os.link(path, name)
    return work, copies * per_copy


def _spec(config, sliced: bool, compared: bool):
    from components.evaluator.gates import Threshold

    evaluation = config.evaluation_spec()
    heads = []
    for head in evaluation.heads:
        thresholds = dict(head.thresholds)
        if sliced and head.task == "binary":
            auc = thresholds.get("auc")
            per_slice = {"slicing": ["payment_type"], "lower": 0.5, "min_examples": 100}
            bounds = auc.model_dump(exclude_none=True) if auc else {}
            thresholds["auc"] = Threshold.model_validate({**bounds, "per_slice": [per_slice]})
        heads.append(head.model_copy(update={"thresholds": thresholds}))
    return evaluation.model_copy(
        update={"heads": heads, "slices": SLICES if sliced else [], "compare": compared}
    )


def execute(gates, examples_uri: str, model_uri: str, compared: bool) -> tuple[float, str]:
    """Seconds of one MultiHeadEvaluator execution with `gates`, and the
    folder holding its `evaluation` and `blessing` (the caller removes it).
    With `compared`, the same model is the served one."""
    from tfx.types import standard_artifacts

    from components import properties
    from components.constants import CONFIG_KEY
    from components.evaluator import spec
    from components.evaluator.executor import Executor

    model = standard_artifacts.Model()
    model.uri = model_uri
    out = tempfile.mkdtemp(prefix="bench-evaluator-")
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = os.path.join(out, "evaluation"), os.path.join(out, "blessing")
    inputs = {spec.EXAMPLES_KEY: [_examples(examples_uri)], spec.MODEL_KEY: [model]}
    if compared:
        served = standard_artifacts.Model()
        served.uri = model_uri
        served.set_int_custom_property(properties.FOUND, 1)
        served.set_int_custom_property(properties.SERVED_VERSION, 1)
        inputs[spec.BASELINE_MODEL_KEY] = [served]
    with Timer() as timer:
        Executor().Do(
            inputs,
            {spec.EVALUATION_KEY: [evaluation], spec.BLESSING_KEY: [blessing]},
            {CONFIG_KEY: gates.to_json()},
        )
    return timer.seconds, out


def evaluate(config, examples_uri: str, model_uri: str, sliced: bool, compared: bool) -> float:
    """Seconds of one MultiHeadEvaluator execution."""
    from components.evaluator import spec

    seconds, out = execute(_spec(config, sliced, compared), examples_uri, model_uri, compared)
    if sliced:
        with open(os.path.join(out, "blessing", spec.VERDICTS_FILE)) as f:
            verdicts = json.load(f)
        assert all(
            set(v["slices"]) == {"payment_type", "trip_start_hour"} for v in verdicts.values()
        )
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def measure(config, examples_uri: str, model: str, compared: bool, repeats: int) -> dict:
    times: dict[str, list[float]] = {"none": [], "two_slicings": []}
    for repeat in range(repeats):
        order = ("none", "two_slicings") if repeat % 2 == 0 else ("two_slicings", "none")
        for name in order:
            seconds = evaluate(config, examples_uri, model, name == "two_slicings", compared)
            times[name].append(seconds)
            print(f"  {name}: {seconds:.1f} s", flush=True)
    none, sliced = median(times["none"]), median(times["two_slicings"])
    return {
        "seconds": times,
        "median_none_s": none,
        "median_sliced_s": sliced,
        "ratio": sliced / none,
    }


# --ab: a change of the sliced evaluation under intervals, and how to undo
# it in this process (TFMA's own behaviour): the module and the attribute
# to patch, and what to patch it with.
CHANGES = {
    # TFMA's private intermediates kept out of the jackknife's samples
    "private": ("components.evaluator.jackknife", "_keep_private_out", lambda metrics: {}),
    # TFMA's matrices from a histogram in numpy instead of its loops
    "matrices": ("components.evaluator.matrices", "vectorized", lambda computation: computation),
    # the matrices' computation keeps the count of an AUC's thresholds, not
    # 10,000 floats to pickle into every stage
    "thresholds": ("components.evaluator.matrices", "_kept", tuple),
    # whole batches under intervals (each slice's rows in random chunks of
    # the split) instead of single examples
    "chunks": ("components.evaluator.eval_config", "_whole_batches", lambda spec: False),
    # every jackknife sample of a slice in one stage instead of TFMA's 60-odd
    "samples": ("components.evaluator.jackknife", "samples_in_one_stage", contextlib.nullcontext),
}


def _undone(change: str, undo: bool):
    """A context where `change` is undone, if `undo`."""
    import importlib
    from unittest import mock

    if not undo:
        return contextlib.nullcontext()
    module, name, replacement = CHANGES[change]
    return mock.patch.object(importlib.import_module(module), name, replacement)


def ab(home: str, change: str, repeats: int, large: bool = False) -> dict:
    """The sliced evaluation under intervals at 15k rows (or, `large`, on
    the eval split of 1.5M rows), candidate and compared, with `change` and
    without (alternating): seconds and ratio."""
    prepared = prepare(home)
    uri, size = prepared.raw_examples, "15k"
    rows = _count(os.path.join(uri, "Split-eval", "*"))
    work = os.path.join(home, "bench-slices")
    if large:
        (uri, rows), size = _repeated(prepared.raw_examples, LARGE_EVAL_ROWS, work), "1.5M"
    figures, lines = {}, []
    for compared in (False, True):
        mode = "compared" if compared else "candidate"
        print(f"[{size} rows: {rows} eval rows, two slicings, {mode}, {change}]", flush=True)
        times: dict[str, list[float]] = {"with": [], "without": []}
        for repeat in range(repeats):
            order = ("with", "without") if repeat % 2 == 0 else ("without", "with")
            for name in order:
                with _undone(change, name == "without"):
                    seconds = evaluate(prepared.config, uri, prepared.model, True, compared)
                times[name].append(seconds)
                print(f"  {name}: {seconds:.1f} s", flush=True)
        ratio = median(times["with"]) / median(times["without"])
        figures[f"{size}_{mode}"] = {"seconds": times, "eval_rows": rows, "ratio": ratio}
        lines.append(
            result("slices", f"{change}_with_vs_without_{size}_{mode}", ratio, "measured", True)
        )
    shutil.rmtree(work, ignore_errors=True)
    return {"figures": figures, "results": lines}


def run(
    home: str, repeats: int, large_repeats: int, large: bool, compared: bool, large_compared: bool
) -> dict:
    prepared = prepare(home)
    small_rows = _count(os.path.join(prepared.raw_examples, "Split-eval", "*"))
    work = os.path.join(home, "bench-slices")
    cases = [("15k", prepared.raw_examples, small_rows, False, repeats)]
    if compared:
        cases.append(("15k", prepared.raw_examples, small_rows, True, repeats))
    if large:
        uri, rows = _repeated(prepared.raw_examples, LARGE_EVAL_ROWS, work)
        cases.append(("1.5M", uri, rows, False, large_repeats))
        if large_compared:
            cases.append(("1.5M", uri, rows, True, large_repeats))
    figures, lines = {}, []
    for size, uri, rows, with_served, count in cases:
        mode = "compared" if with_served else "candidate"
        print(f"[{size} rows: {rows} eval rows, {mode}]", flush=True)
        measured = measure(prepared.config, uri, prepared.model, with_served, count)
        measured["eval_rows"] = rows
        figures[f"{size}_{mode}"] = measured
        lines.append(
            result(
                "slices",
                f"evaluator_two_slicings_vs_none_{size}_{mode}",
                measured["ratio"],
                f"<={TARGET}",
                measured["ratio"] <= TARGET,
            )
        )
    print(f"\nslices, {machine()}")
    print(f"  {'case':<16} {'eval rows':>9} {'none s':>8} {'sliced s':>9} {'ratio':>6}")
    for name, m in figures.items():
        print(
            f"  {name:<16} {m['eval_rows']:>9} {m['median_none_s']:>8.1f} "
            f"{m['median_sliced_s']:>9.1f} {m['ratio']:>6.2f}"
        )
    shutil.rmtree(work, ignore_errors=True)
    return {"figures": figures, "results": lines}


MODES = ("none", "two_slicings", "none_compared", "two_slicings_compared")


def one(home: str, size: str, mode: str) -> None:
    """One evaluation in this process: its seconds and the process's peak
    RSS (for side-by-side runs of two commits, each in a fresh process)."""
    import resource

    if size not in ("15k", "1.5M") or mode not in MODES:
        raise SystemExit(f"--one takes 15k or 1.5M and one of {', '.join(MODES)}")
    sliced, compared = mode.startswith("two_slicings"), mode.endswith("_compared")
    prepared = prepare(home)
    uri = prepared.raw_examples
    work = os.path.join(home, "bench-slices-one")
    if size == "1.5M":
        uri, _ = _repeated(prepared.raw_examples, LARGE_EVAL_ROWS, work)
    seconds = evaluate(prepared.config, uri, prepared.model, sliced, compared)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ONE slices {size} {mode} seconds={seconds:.1f} peak_rss_mb={peak:.0f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=BENCH_HOME)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large-repeats", type=int, default=1)
    parser.add_argument("--no-large", action="store_true")
    parser.add_argument("--no-compared", action="store_true")
    parser.add_argument("--large-compared", action="store_true")
    parser.add_argument("--ab", choices=sorted(CHANGES))
    parser.add_argument("--ab-large", action="store_true", help="the A/B on 1.5M rows")
    parser.add_argument(
        "--one",
        nargs=2,
        metavar=("SIZE", "MODE"),
        help="one evaluation: SIZE 15k or 1.5M, MODE none, two_slicings, none_compared "
        "or two_slicings_compared; prints its seconds and peak RSS",
    )
    args = parser.parse_args(argv)
    if args.one:
        one(args.home, *args.one)
        return 0
    if args.ab:
        outcome = ab(args.home, args.ab, args.repeats, args.ab_large)
        stem = f"slices-{args.ab}" + ("-large" if args.ab_large else "")
        save("slices", outcome, smoke=False, stem=stem)
        return 0
    outcome = run(
        args.home,
        args.repeats,
        args.large_repeats,
        not args.no_large,
        not args.no_compared,
        args.large_compared,
    )
    save("slices", outcome, smoke=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
