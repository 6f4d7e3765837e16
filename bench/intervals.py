"""Benchmark 15, intervals on whole batches: are their standard errors TFMA's?

    python -m bench.intervals [--seeds 12] [--rows-per-slice 300]

Under jackknife intervals the evaluator takes whole batches, each slice's
rows in random chunks of the split (components/evaluator/unbatch.py),
and computes the jackknife's samples in one stage (evaluator/jackknife.py),
where TFMA's own path splits the split into single examples and draws a
bucket per example. A standard error is itself an estimate (20 buckets:
about 16% off), so one run against one run says little. Here every seed
draws a new data set from the same distribution (two models, a binary and
a regression output, 10 slices), in file order sorted by label (the worst
case for rows put together by batch), and evaluates it both ways. Per
metric (the AUC, its paired diff between the models, the mean label, the
mean squared error and its diff), over every slice and seed:

- `SE whole/single`: the two paths' standard errors, their ratio averaged
  over the slices, then over the seeds (± the standard error of that mean);
- `var/SE^2`, for each path: the metric's variance over the seeds (the
  truth a standard error estimates: the values are the same both ways)
  over the mean squared standard error, averaged over the slices (± its
  standard error over the slices). 1 where the standard errors are right.

Goal: SE whole/single within 10% of 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import tempfile

import numpy as np

from bench.common import machine, result, save

SLICES = 10
BINARY = {"AUC": "auc", "MeanLabel": "mean_label", "ExampleCount": "example_count"}
REGRESSION = {"MeanSquaredError": "mean_squared_error", "ExampleCount": "example_count"}
# (output, metric, diff): what the study reports
FIGURES = [
    ("b", "auc", False),
    ("b", "auc", True),
    ("b", "mean_label", False),
    ("r", "mean_squared_error", False),
    ("r", "mean_squared_error", True),
]
TOLERANCE = 0.10


def _rows(seed: int, per_slice: int) -> list[dict]:
    """Two models' scores of the same rows (the served one a little worse),
    each slice with its own positive rate, sorted by label."""
    rng = random.Random(seed)
    rows = []
    for index in range(SLICES):
        rate = 0.2 + 0.6 * index / (SLICES - 1)
        for _ in range(per_slice):
            label = float(rng.random() < rate)
            value = rng.gauss(10 + 5 * label, 3)
            rows.append(
                {
                    "slice": f"s{index}",
                    "lb": label,
                    "pb_c": min(max(rng.gauss(0.35 + 0.3 * label, 0.2), 0.0), 1.0),
                    "pb_s": min(max(rng.gauss(0.4 + 0.2 * label, 0.2), 0.0), 1.0),
                    "lr": value,
                    "pr_c": value + rng.gauss(0, 2),
                    "pr_s": value + rng.gauss(0.5, 2.5),
                    "w": 1.0,
                }
            )
    return sorted(rows, key=lambda row: row["lb"])


def _eval_config(whole: bool):
    import tensorflow_model_analysis as tfma

    from components.evaluator import batched_metrics, jackknife

    def model(name: str, suffix: str, baseline: bool) -> tfma.ModelSpec:
        return tfma.ModelSpec(
            name=name,
            is_baseline=baseline,
            prediction_keys={"b": f"pb_{suffix}", "r": f"pr_{suffix}"},
            label_keys={"b": "lb", "r": "lr"},
            example_weight_keys={"b": "w", "r": "w"},
        )

    def metrics(names: dict[str, str]) -> list:
        return [batched_metrics.metric_config(c, n, whole) for c, n in names.items()]

    options = tfma.Options()
    options.compute_confidence_intervals.value = True
    options.confidence_intervals.method = tfma.ConfidenceIntervalOptions.JACKKNIFE
    return tfma.EvalConfig(
        model_specs=[model("candidate", "c", False), model("served", "s", True)],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["slice"])],
        metrics_specs=[
            tfma.MetricsSpec(output_names=["b"], metrics=metrics(BINARY)),
            tfma.MetricsSpec(output_names=["r"], metrics=metrics(REGRESSION)),
            tfma.MetricsSpec(metrics=[jackknife.metric_config()]),
        ],
        options=options,
    )


def _number(value) -> float:
    """A metric value's number (TFMA writes one with an interval bounded)."""
    if value.WhichOneof("type") == "bounded_value":
        return value.bounded_value.value.value
    return value.double_value.value


def _evaluate(folder: str, data: str, whole: bool) -> dict:
    """(slice, output, metric, diff): (value, standard error) of the candidate."""
    import tensorflow_model_analysis as tfma

    from components.evaluator import jackknife
    from components.evaluator.results import extractors, slice_key

    config = _eval_config(whole)
    output = os.path.join(folder, f"whole-{whole}")
    # whole batches as the evaluator runs them: the jackknife's samples in
    # one stage; single examples by TFMA's own jackknife
    with jackknife.samples_in_one_stage() if whole else contextlib.nullcontext():
        tfma.run_model_analysis(
            eval_config=config,
            data_location=data,
            output_path=output,
            extractors=extractors([], config),
        )
    found = {}
    for per_slice in tfma.load_metrics(output):
        for item in per_slice.metric_keys_and_values:
            key = item.key
            if key.model_name != "candidate" or not item.HasField("confidence_interval"):
                continue
            where = (slice_key(per_slice.slice_key), key.output_name, key.name, key.is_diff)
            found[where] = (_number(item.value), _number(item.confidence_interval.standard_error))
    return found


def _write(rows: list[dict], path: str) -> None:
    """The rows as tf.Examples (strings and floats)."""
    import tensorflow as tf

    def feature(value) -> tf.train.Feature:
        if isinstance(value, str):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))

    with tf.io.TFRecordWriter(path) as writer:
        for row in rows:
            features = tf.train.Features(feature={k: feature(v) for k, v in row.items()})
            writer.write(tf.train.Example(features=features).SerializeToString())


def _mean_and_error(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values)
    return float(array.mean()), float(array.std(ddof=1) / np.sqrt(len(array)))


def run(seeds: int, per_slice: int) -> dict:
    runs: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="bench-intervals-") as folder:
        for seed in range(seeds):
            data = os.path.join(folder, f"rows-{seed}.tfrecord")
            _write(_rows(seed, per_slice), data)
            order = (False, True) if seed % 2 == 0 else (True, False)
            for whole in order:
                runs[whole].append(_evaluate(os.path.join(folder, str(seed)), data, whole))
            print(f"  seed {seed}: {len(runs[True][-1])} standard errors each way", flush=True)
    figures, lines = {}, []
    print(f"\nintervals on whole batches, {machine()}, {seeds} seeds x {SLICES + 1} slices")
    print(
        f"  {'metric':<24} {'SE whole/single':>16} {'var/SE^2 single':>16} {'var/SE^2 whole':>16}"
    )
    for output, metric, diff in FIGURES:
        keys = [k for k in runs[True][0] if k[1:] == (output, metric, diff)]
        per_seed = [
            np.mean([runs[True][seed][k][1] / runs[False][seed][k][1] for k in keys])
            for seed in range(seeds)
        ]
        row = {"se_whole_vs_single": _mean_and_error(per_seed)}
        for whole, label in ((False, "var_vs_se2_single"), (True, "var_vs_se2_whole")):
            # the metric's variance over the seeds (both paths' values are
            # the same) against the mean squared standard error, per slice
            row[label] = _mean_and_error(
                [
                    np.var([run[k][0] for run in runs[whole]], ddof=1)
                    / np.mean([run[k][1] ** 2 for run in runs[whole]])
                    for k in keys
                ]
            )
        name = f"{metric}{' diff' if diff else ''}"
        figures[name] = row
        print(f"  {name:<24}" + "".join(f" {m:>8.3f} ± {e:.3f}" for m, e in row.values()))
        value = row["se_whole_vs_single"][0]
        lines.append(
            result(
                "intervals",
                f"{name.replace(' ', '_')}_se_whole_vs_single",
                value,
                f"1+-{TOLERANCE}",
                abs(value - 1) <= TOLERANCE,
            )
        )
    return {"figures": figures, "results": lines, "seeds": seeds, "rows_per_slice": per_slice}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--rows-per-slice", type=int, default=300)
    args = parser.parse_args(argv)
    save("intervals", run(args.seeds, args.rows_per_slice), smoke=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
