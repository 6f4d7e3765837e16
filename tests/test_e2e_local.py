"""End to end: `multihead run` with LocalDagRunner on a taxi sample.

Three runs share one home: the first computes everything and pushes version
1; the second is served from cache; the third tightens one threshold, so only
evaluation and push run again and nothing is pushed.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2

from tests.conftest import COMPONENTS, taxi_sample, write_config

pytestmark = pytest.mark.e2e

HEADS = ["big_tipper", "fare", "trip_seconds"]


def multihead(config: str, home: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipeline.cli", "run", "--config", config, "--home", home]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def summary(home) -> dict:
    with open(os.path.join(home, "runs", "latest.json")) as f:
        return json.load(f)


def executions_by_node(home) -> dict[str, list[int]]:
    """Node id -> states of its executions, oldest first."""
    import ml_metadata as mlmd

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = os.path.join(home, "metadata.sqlite")
    store = mlmd.MetadataStore(connection)
    result: dict[str, list[int]] = {}
    for context in store.get_contexts_by_type("node"):
        node = context.name.split(".")[-1]
        executions = sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
        result[node] = [e.last_known_state for e in executions]
    return result


def curated_schema(home: str, target) -> str:
    """The schema SchemaGen inferred, with 'Cash' dropped from payment_type's domain."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    pattern = os.path.join(home, "pipelines", "taxi-multihead", "SchemaGen", "schema", "*")
    inferred = os.path.join(sorted(glob.glob(pattern))[0], "schema.pbtxt")
    schema = text_format.Parse(open(inferred).read(), schema_pb2.Schema())
    for domain in schema.string_domain:
        if domain.name == "payment_type":
            values = [v for v in domain.value if v != "Cash"]
            del domain.value[:]
            domain.value.extend(values)
    target.write_text(text_format.MessageToString(schema))
    return str(target)


def blank_some_fares(source, target) -> None:
    """Copies the sample with the fare of every 50th row removed."""
    with open(source) as src, open(target, "w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, reader.fieldnames)
        writer.writeheader()
        for index, row in enumerate(reader):
            if index % 50 == 0:
                row["fare"] = ""
            writer.writerow(row)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    data.mkdir()
    taxi_sample(str(data / "sample.csv"), rows=3000, seed_every=5)
    home = str(root / "home")
    lenient = write_config(root / "lenient.yaml", data, auc_lower=0.6)
    strict = write_config(root / "strict.yaml", data, auc_lower=0.999)
    first = multihead(lenient, home)
    assert first.returncode == 0, first.stderr[-3000:]
    after_first = (summary(home), executions_by_node(home))
    second = multihead(lenient, home)
    assert second.returncode == 0, second.stderr[-3000:]
    after_second = (summary(home), executions_by_node(home))
    third = multihead(strict, home)
    assert third.returncode == 0, third.stderr[-3000:]
    after_third = (summary(home), executions_by_node(home))
    broken = root / "broken"
    broken.mkdir()
    blank_some_fares(data / "sample.csv", broken / "sample.csv")
    fourth = multihead(write_config(root / "broken.yaml", broken, auc_lower=0.6), home)
    curated = curated_schema(home, root / "schema.pbtxt")
    fifth = multihead(write_config(root / "curated.yaml", data, 0.6, schema=curated), home)
    return {
        "home": home,
        "config": lenient,
        "data": str(data),
        "first": (first, *after_first),
        "second": (second, *after_second),
        "third": (third, *after_third),
        "fourth": (fourth, summary(home)),
        "fifth": (fifth, summary(home)),
    }


def test_every_component_ran_once_with_progress_lines(runs):
    result, _, executions = runs["first"]
    for component in COMPONENTS:
        assert f"[{component}] started" in result.stdout
        assert f"[{component}] done in" in result.stdout
        assert executions[component] == [metadata_store_pb2.Execution.COMPLETE]


def test_summary_has_every_head_and_the_pushed_model(runs):
    _, first, _ = runs["first"]
    assert sorted(first["heads"]) == HEADS
    for head in HEADS:
        info = first["heads"][head]
        assert info["verdict"] == "pass", info["reasons"]
        assert all(np.isfinite(v) for v in info["metrics"].values())
        assert info["reasons"]
    assert first["heads"]["big_tipper"]["metrics"]["auc"] > 0.7
    assert first["heads"]["fare"]["thresholds"] == {"mean_absolute_error": {"upper": 10.0}}
    assert first["blessed"] is True
    serving = os.path.join(runs["home"], "serving", "taxi-multihead")
    assert first["pushed_model"] == os.path.join(serving, "1")
    with open(os.path.join(runs["home"], "runs", first["run_id"].replace(":", "-") + ".json")) as f:
        assert json.load(f) == first


def test_second_run_is_served_from_cache(runs):
    result, second, executions = runs["second"]
    _, first, _ = runs["first"]
    for component in COMPONENTS:
        assert f"[{component}] cached in" in result.stdout
        assert executions[component] == [
            metadata_store_pb2.Execution.COMPLETE,
            metadata_store_pb2.Execution.CACHED,
        ]
    assert second["heads"] == first["heads"]
    assert second["run_id"] != first["run_id"]
    assert os.listdir(os.path.join(runs["home"], "serving", "taxi-multihead")) == ["1"]


def test_failed_threshold_blocks_push_and_reuses_training(runs):
    result, third, executions = runs["third"]
    assert "[Transform] cached" in result.stdout
    assert "[MultiHeadTrainer] cached" in result.stdout
    assert "[MultiHeadEvaluator] done" in result.stdout
    assert third["blessed"] is False and third["pushed_model"] is None
    verdict = third["heads"]["big_tipper"]
    assert verdict["verdict"] == "fail"
    assert verdict["reasons"][0].startswith("big_tipper: auc ")
    assert verdict["reasons"][0].endswith("< threshold 0.999")
    assert third["heads"]["fare"]["verdict"] == "pass"
    assert "pushed model: none" in result.stdout
    assert os.listdir(os.path.join(runs["home"], "serving", "taxi-multihead")) == ["1"]


def serialized_examples(data_dir: str, count: int) -> tf.Tensor:
    """Raw feature columns of the first rows as tf.Examples (no labels)."""
    labels = {"fare", "tips", "trip_seconds"}
    examples = []
    with open(os.path.join(data_dir, "sample.csv")) as f:
        for row in list(csv.DictReader(f))[:count]:
            features = {}
            for name, value in row.items():
                if name in labels or value == "":
                    continue
                try:
                    number = float(value)
                except ValueError:
                    features[name] = tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[value.encode()])
                    )
                    continue
                if number.is_integer() and "." not in value:
                    features[name] = tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[int(number)])
                    )
                else:
                    features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[number]))
            example = tf.train.Example(features=tf.train.Features(feature=features))
            examples.append(example.SerializeToString())
    return tf.constant(examples)


def test_pushed_model_head_signatures_match_serving_default(runs):
    _, first, _ = runs["first"]
    loaded = tf.saved_model.load(first["pushed_model"])
    assert set(loaded.signatures) == {"serving_default", "transform_features", *HEADS}
    examples = serialized_examples(runs["data"], 32)
    everything = loaded.signatures["serving_default"](examples=examples)
    assert sorted(everything) == HEADS
    for head in HEADS:
        alone = loaded.signatures[head](examples=examples)
        assert sorted(alone) == [head]
        # serving_default runs the towers fused (one matmul per depth): the
        # same numbers up to float32 rounding.
        np.testing.assert_allclose(
            alone[head].numpy(), everything[head].numpy(), rtol=1e-5, atol=1e-6
        )
    probabilities = everything["big_tipper"].numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert everything["fare"].numpy().mean() > 1.0  # dollars, not z-scores


def test_missing_labels_stop_training_and_keep_what_was_pushed(runs):
    result, latest = runs["fourth"]
    _, third, _ = runs["third"]
    assert result.returncode == 1
    assert "error: MultiHeadTrainer failed" in result.stderr
    assert "head 'fare':" in result.stderr and "rows have no label 'fare'" in result.stderr
    assert "label_may_be_missing is false" in result.stderr
    assert latest == third  # the summary of the last good run is kept
    assert os.listdir(os.path.join(runs["home"], "serving", "taxi-multihead")) == ["1"]


def test_benchmark_smoke(runs):
    """Short runs of the serving and quality benchmarks, so they cannot rot."""
    from bench import quality, serving

    lines = serving.run(runs["home"], calls=3, steps=5, config_path=runs["config"])["results"]
    assert len(lines) == 8
    assert all(
        re.fullmatch(r"RESULT serving \S+=[-\d.e+]+ target=\S+ (met|missed)", x) for x in lines
    )
    outcome = quality.run(runs["home"], seeds=1, steps=20, config_path=runs["config"])
    assert set(outcome["scores"]) == {"disjoint", "single", "joint_backbone", "disjoint_backbone"}
    assert outcome["scores"]["disjoint"]["big_tipper"][0] > 0.5
    assert len(outcome["results"]) == 3


def test_anomalies_against_a_curated_schema_stop_the_run_before_training(runs):
    result, latest = runs["fifth"]
    _, third, _ = runs["third"]
    assert result.returncode == 1
    assert "[ExampleValidator] done" in result.stdout
    assert "error: MultiHeadTrainer failed: AnomaliesFound" in result.stderr
    assert "column 'payment_type'" in result.stderr and "Cash" in result.stderr
    assert latest == third
    assert os.listdir(os.path.join(runs["home"], "serving", "taxi-multihead")) == ["1"]
