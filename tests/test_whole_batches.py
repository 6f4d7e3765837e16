"""Whole batches under jackknife intervals: each slice's rows in random
chunks of the whole split (unbatch.py), so that TFMA's jackknife, which
draws a bucket per extract, still draws one per row in effect.

On data sorted by label (the worst case for rows put together by batch:
a batch is then all negatives or all positives) the standard error of each
slice's mean label is the binomial one, and every value is TFMA's on
single examples, with standard errors like TFMA's; the chunks hold every
row of a slice once, mixed across batches."""

from __future__ import annotations

import math
import random

import numpy as np
import pyarrow as pa
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.constants import SLICE_KEY_TYPES_KEY
from tensorflow_model_analysis.extractors import unbatch_extractor
from tensorflow_model_analysis.slicer import slicer_lib
from tensorflow_model_analysis.utils import util

from components.evaluator import batched_metrics, jackknife, unbatch
from tests.test_batched_metrics import _evaluate

SLICES = 20
ROWS_PER_SLICE = 200
METRICS = {"MeanLabel": "mean_label", "AUC": "auc", "ExampleCount": "example_count"}


def _sorted_rows(seed: int) -> list[dict]:
    """SLICES slices of ROWS_PER_SLICE rows with their own positive rate,
    predictions that tell the classes apart (an AUC near 0.8), weights of
    1 (the project's heads always have weights), the rows sorted by label:
    the negatives first."""
    rng = random.Random(seed)
    rows = []
    for index in range(SLICES):
        rate = 0.2 + 0.6 * index / (SLICES - 1)
        for _ in range(ROWS_PER_SLICE):
            label = float(rng.random() < rate)
            score = min(max(rng.gauss(0.35 + 0.3 * label, 0.2), 0.0), 1.0)
            rows.append(
                {"slice": f"s{index:02d}", "label": label, "prediction": score, "weight": 1.0}
            )
    return sorted(rows, key=lambda row: row["label"])


def _config(whole: bool) -> tfma.EvalConfig:
    options = tfma.Options()
    options.compute_confidence_intervals.value = True
    options.confidence_intervals.method = tfma.ConfidenceIntervalOptions.JACKKNIFE
    metrics = [batched_metrics.metric_config(c, n, whole) for c, n in METRICS.items()]
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                label_key="label", prediction_key="prediction", example_weight_key="weight"
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["slice"])],
        metrics_specs=[
            tfma.MetricsSpec(metrics=metrics),
            tfma.MetricsSpec(metrics=[jackknife.metric_config()]),
        ],
        options=options,
    )


ROWS = _sorted_rows(seed=13)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> dict[bool, dict]:
    """The sorted rows evaluated under intervals on single examples by TFMA's
    own jackknife and, as the evaluator runs them, on whole batches with the
    jackknife's samples in one stage."""
    folder = tmp_path_factory.mktemp("whole-intervals")
    found = {}
    for whole in (False, True):
        config = _config(whole)
        assert batched_metrics.reads_whole_batches(config) is whole
        found[whole] = _evaluate(folder / str(whole), ROWS, True, config=config, one_stage=whole)
    return found


def _slice_labels(where: tuple) -> np.ndarray:
    name = dict(where).get("slice")
    return np.array([r["label"] for r in ROWS if name is None or r["slice"] == name])


def test_the_standard_error_of_a_mean_label_is_the_binomial_one_on_sorted_data(evaluated):
    ratios = []
    for key, (value, error) in evaluated[True].items():
        if key[3] != "mean_label":
            continue
        labels = _slice_labels(key[0])
        assert math.isclose(value, labels.mean(), rel_tol=1e-6)
        ratios.append(error / math.sqrt(labels.mean() * (1 - labels.mean()) / len(labels)))
    assert len(ratios) == SLICES + 1
    # one jackknife's standard error (20 buckets) is off by 16% (its sd);
    # the mean of 21 by 3.5%. Rows put together by batch give 7x here.
    assert 0.88 < np.mean(ratios) < 1.12, ratios
    assert max(ratios) < 1.8, ratios


def test_values_are_tfma_s_on_single_examples_and_standard_errors_alike(evaluated):
    single, whole = evaluated[False], evaluated[True]
    assert single.keys() == whole.keys()
    ratios = []
    for key, (value, error) in single.items():
        assert math.isclose(whole[key][0], value, rel_tol=1e-9), key
        if key[3] == "auc":
            ratios.append(whole[key][1] / error)
    assert len(ratios) == SLICES + 1
    # two jackknifes' standard errors, each off by 16%: their ratio by 23%,
    # the mean of 21 ratios by 5%
    assert 0.85 < np.mean(ratios) < 1.18, ratios


def test_each_slice_s_rows_are_in_one_chunk_each_mixed_across_batches():
    specs = [tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["color"])]
    slicings = [tfma.slicer.SingleSliceSpec(spec=s) for s in specs]
    cut = unbatch._ByChunk(slicings, chunks=4)
    cut.setup()
    grouped: dict = {}
    for batch in range(10):
        rows = np.arange(batch * 50, batch * 50 + 50, dtype=np.float32)
        colors = np.array([[b"red" if r % 3 else b"blue"] for r in rows], dtype=object)
        batched = {"labels": rows, "features": {"color": colors}, "predictions": None}
        for key, part in cut.process(batched):
            grouped.setdefault(key, []).append(part)
    assert set(grouped) == {(), (("color", "red"),), (("color", "blue"),)}
    for key, parts in grouped.items():
        extracts = list(unbatch._chunked((key, parts)))
        assert len(extracts) == 4
        rows = []
        for extract in extracts:
            assert list(extract[SLICE_KEY_TYPES_KEY]) == [key]
            assert extract["predictions"] is None
            batches = {int(r) // 50 for r in extract["labels"]}
            assert len(batches) > 5  # a chunk draws from most batches
            rows.extend(extract["labels"].tolist())
        expected = [r for r in range(500) if not key or (r % 3 != 0) == (key[0][1] == "red")]
        assert sorted(rows) == expected


def _features(columns: dict[str, list]) -> dict:
    """Raw features as TFMA's extractors give them, from an Arrow batch of
    the given columns (a list of values per row)."""
    batch = pa.RecordBatch.from_arrays([pa.array(v) for v in columns.values()], list(columns))
    return util.record_batch_to_tensor_values(batch)


def _row_by_row(slicings: list, features: dict, size: int) -> dict:
    """TFMA's slice keys found on each row's raw features, one at a time
    (TFMA's own split of a batch into examples)."""
    found: dict = {}
    batched = {"features": features, "labels": np.zeros(size)}
    for row, example in enumerate(unbatch_extractor._extract_unbatched_inputs(batched)):
        keys = set(slicer_lib.get_slices_for_features_dicts([], example["features"], slicings))
        found.setdefault(tuple(sorted(keys, key=repr)), []).append(row)
    return found


def _slicings(*columns: list[str]) -> list:
    specs = [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=c) for c in columns]
    return [slicer_lib.SingleSliceSpec(spec=spec) for spec in specs]


def test_slice_keys_found_once_per_distinct_row_are_tfma_s_row_by_row():
    rng = random.Random(3)
    size = 400
    features = _features(
        {
            "payment": [[rng.choice([b"Cash", b"Credit Card", b"No Charge"])] for _ in range(size)],
            "hour": [[rng.randrange(24)] for _ in range(size)],
            "tips": [[rng.choice([0.0, 1.5, 20.25])] for _ in range(size)],
        }
    )
    assert unbatch._same_features(features, size) is not None
    slicings = _slicings(["payment"], ["hour"], ["payment", "hour"], ["tips"])
    found = unbatch._by_slice_keys(slicings, {"features": features}, size)
    assert {keys: rows.tolist() for keys, rows in found.items()} == _row_by_row(
        slicings, features, size
    )
    assert len(found) > 100  # payment x hour x tips
    assert any({(), (("hour", 7),), (("payment", "Cash"),)} <= set(keys) for keys in found)


def test_a_feature_of_several_or_no_values_in_a_row_is_sliced_row_by_row():
    features = _features({"tags": [[b"a", b"b"], [b"a"], None, [b"b"]]})
    assert unbatch._same_features(features, 4) is None
    slicings = _slicings(["tags"])
    found = unbatch._by_slice_keys(slicings, {"features": features}, 4)
    found = {keys: rows.tolist() for keys, rows in found.items()}
    assert found == _row_by_row(slicings, features, 4)
    by_keys = {frozenset(keys): rows for keys, rows in found.items()}
    assert by_keys[frozenset({(), (("tags", "a"),), (("tags", "b"),)})] == [0]
    assert by_keys[frozenset({()})] == [2]  # no value: the overall slice only
