"""TFMA's jackknife made cheap (evaluator/jackknife.py), on two models, a
binary and a regression output and a slicing:

- every sample of a slice in one stage: on the same draws, every value and
  standard error is TFMA's own jackknife's, on slices of many rows and on
  slices with fewer rows than buckets; it runs on worker processes; the
  evaluator builds its evaluation with it, and TFMA's own is back after;
- the private intermediates (an AUC's 10,000-threshold confusion matrices)
  kept out of the samples: every value and standard error stays TFMA's, the
  keeping-out runs after every derived metric, and an intermediate is
  really out of the samples (what makes the sliced evaluation cheaper,
  benchmark 9)."""

from __future__ import annotations

import pickle

import apache_beam as beam
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.api import types
from tensorflow_model_analysis.evaluators import confidence_intervals_util
from tensorflow_model_analysis.evaluators import jackknife as tfma_jackknife
from tensorflow_model_analysis.evaluators import (
    metrics_plots_and_validations_evaluator as tfma_evaluator,
)
from tensorflow_model_analysis.metrics import (
    binary_confusion_matrices,
    calibration_histogram,
    metric_specs,
    metric_types,
)
from tensorflow_model_analysis.utils import config_util

from components.evaluator import jackknife
from components.evaluator.eval_config import build_eval_config
from components.evaluator.results import run_tfma
from pipeline.config_file import parse_config
from tests.test_batched_metrics import ROWS, _close, _eval_config, _evaluate, _spec


def _kept_out(config: tfma.EvalConfig) -> tfma.EvalConfig:
    config.metrics_specs.append(tfma.MetricsSpec(metrics=[jackknife.metric_config()]))
    return config


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> dict[bool, dict]:
    folder = tmp_path_factory.mktemp("jackknife")
    return {
        kept_out: _evaluate(
            folder / str(kept_out),
            ROWS,
            batched=True,
            config=_kept_out(_eval_config(True)) if kept_out else None,
        )
        for kept_out in (False, True)
    }


def test_values_and_standard_errors_are_tfma_s_with_the_intermediates_kept_out(evaluated):
    plain, kept_out = evaluated[False], evaluated[True]
    assert plain.keys() == kept_out.keys()
    assert not any(key[3].startswith("_") for key in kept_out)
    with_errors = [key for key, (_, error) in plain.items() if error is not None]
    # the AUC and its paired diff on each slice have an interval
    auc = [key for key in with_errors if key[3] == "auc"]
    assert {(key[0], key[4]) for key in auc} == {
        (slice_, diff)
        for slice_ in ((), (("color", "red"),), (("color", "blue"),))
        for diff in (False, True)
    }
    for key, (value, error) in plain.items():
        assert _close(kept_out[key][0], value), key
        assert _close(kept_out[key][1], error), key


@pytest.fixture(scope="module")
def in_one_stage(tmp_path_factory, evaluated) -> dict[int, tuple[dict, dict]]:
    """(TFMA's jackknife, the samples in one stage) on the same draws, on
    300 rows (TFMA's: `evaluated`'s run with the intermediates kept out)
    and on 30 (slices of fewer rows than the 20 buckets: some buckets
    empty, some delete-d samples the full one)."""
    folder = tmp_path_factory.mktemp("one-stage")
    found = {}
    for count in (len(ROWS), 30):
        rows, config = ROWS[:count], _kept_out(_eval_config(True))
        stock = (
            evaluated[True]
            if count == len(ROWS)
            else _evaluate(folder / f"{count}-stock", rows, True, config=config)
        )
        one_stage = _evaluate(folder / f"{count}-one", rows, True, config=config, one_stage=True)
        found[count] = (stock, one_stage)
    return found


@pytest.mark.parametrize("count", [len(ROWS), 30])
def test_samples_in_one_stage_give_tfma_s_values_and_standard_errors(in_one_stage, count):
    stock, one_stage = in_one_stage[count]
    assert one_stage.keys() == stock.keys()
    with_errors = [key for key, (_, error) in stock.items() if error is not None]
    assert {key[0] for key in with_errors} == {(), (("color", "red"),), (("color", "blue"),)}
    assert {key[3] for key in with_errors} >= {"auc", "mean_squared_error"}
    wrong = {
        key: (value, one_stage[key])
        for key, value in stock.items()
        if not all(_close(a, b) for a, b in zip(value, one_stage[key], strict=True))
    }
    assert not wrong, wrong


def test_samples_in_one_stage_run_on_worker_processes(in_one_stage, tmp_path):
    """The DirectRunner's two worker processes (what a distributed runner
    does: the transforms pickled, set up in processes that did not build
    them): the values are the in-process run's, and every interval is
    there."""
    workers = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    config = _kept_out(_eval_config(True))
    found = _evaluate(tmp_path, ROWS, True, config=config, one_stage=True, beam_args=workers)
    in_process = in_one_stage[len(ROWS)][1]
    assert found.keys() == in_process.keys()
    for key, (value, error) in in_process.items():
        assert _close(found[key][0], value), key
        assert (found[key][1] is None) == (error is None), key


def _labels(pipeline: beam.Pipeline) -> list[str]:
    found = []

    class Labels(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node) -> None:
            found.append(node.full_label)

        def visit_transform(self, node) -> None:
            found.append(node.full_label)

    pipeline.visit(Labels())
    return found


def test_the_evaluator_builds_its_samples_in_one_stage_and_tfma_s_own_is_back_after(tmp_path):
    stock = tfma_jackknife.ComputeWithConfidenceIntervals
    pipeline = beam.Pipeline()
    config = _kept_out(_eval_config(True))
    (tmp_path / "examples.tfrecord").write_bytes(b"")  # built, not run
    run_tfma(pipeline, str(tmp_path / "examples*"), [], config, str(tmp_path / "out"))
    labels = _labels(pipeline)
    assert any(label.endswith("JackknifeConfidenceIntervals/GroupBuckets") for label in labels)
    assert not any("ComputeJackknifeSample" in label for label in labels)
    assert tfma_jackknife.ComputeWithConfidenceIntervals is stock


def _derived(config: tfma.EvalConfig) -> list:
    config = config_util.update_eval_config_with_defaults(config)
    found = metric_specs.to_computations(config.metrics_specs, eval_config=config)
    return tfma_evaluator._filter_and_separate_computations(found).derived_computations


def test_the_intermediates_are_kept_out_after_every_derived_metric():
    spec = _spec(slices=[["c"]])
    config = build_eval_config(spec, with_baseline=True)
    derived = _derived(config)
    assert [c.keys for c in derived].index([metric_types.MetricKey(jackknife.NAME)]) == (
        len(derived) - 1
    )
    # without intervals there is nothing to keep out of samples
    unpaired = build_eval_config(_spec(slices=[["c"]], confidence="none"), with_baseline=True)
    assert all(c.keys != [metric_types.MetricKey(jackknife.NAME)] for c in _derived(unpaired))


def test_a_single_output_model_s_weighted_metrics_keep_the_intermediates_out_too():
    """One head: TFMA weighs every metrics spec by the model's one example
    weight key, the keeping-out's too (a metric without `example_weighted`
    was refused: a single-head pipeline compared with its served model
    failed)."""
    config = parse_config(
        {
            "name": "one",
            "features": [{"name": "x", "type": "numeric"}],
            "heads": [{"name": "tipper", "label": "t", "task": "binary", "metrics": ["auc"]}],
        }
    )
    eval_config = build_eval_config(config.evaluation_spec(), with_baseline=True)
    assert eval_config.model_specs[0].example_weight_key
    derived = _derived(eval_config)
    assert derived[-1].keys == [metric_types.MetricKey(jackknife.NAME)]


def test_private_values_are_out_of_the_samples_and_a_metric_is_in():
    matrices_key = metric_types.MetricKey("_binary_confusion_matrices_10000", output_name="b")
    histogram_key = metric_types.PlotKey("_calibration_histogram_10000", output_name="b")
    count_key = metric_types.MetricKey("_private_count", output_name="b")
    auc_key = metric_types.MetricKey("auc", output_name="b")
    dunder_key = metric_types.MetricKey("__kept", output_name="b")
    matrices = binary_confusion_matrices.Matrices(
        thresholds=[0.5], tp=[1.0], fp=[2.0], tn=[3.0], fn=[4.0]
    )
    assert isinstance(matrices, types.StructuredMetricValue)
    histogram = [calibration_histogram.Bucket(i, 0.5, 0.25, 1.0) for i in range(10_002)]
    metrics = {
        matrices_key: matrices,
        histogram_key: histogram,
        count_key: 12.0,
        auc_key: 0.75,
        dunder_key: matrices,
    }
    (computation,) = jackknife.KeepPrivateOutOfSamples().computations()
    metrics.update(computation.result(metrics))
    for key, kind in ((matrices_key, "Matrices"), (histogram_key, "list"), (count_key, "float")):
        assert repr(metrics[key]) == f"Private({kind})"
        # the marker only: what Beam encodes between the jackknife's stages
        assert len(pickle.dumps(metrics[key])) < 100
    assert metrics[dunder_key] is matrices  # two underscores: not private
    sampler = tfma_jackknife._JackknifeSampleCombineFn(num_jackknife_samples=1)
    accumulator = sampler.add_input(
        sampler.create_accumulator(), confidence_intervals_util.SampleMetrics(metrics, 0)
    )
    assert set(accumulator.metric_samples) == {auc_key, dunder_key}
