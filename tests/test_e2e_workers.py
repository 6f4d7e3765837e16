"""End to end on Beam worker processes: `beam: {runner: multiprocess,
workers: 2}` runs every Beam step (ExampleGen, StatisticsGen, Transform,
the evaluator with a slicing, batch scoring) in processes that did not build
the pipeline, as Dataflow or Flink would: what a worker cannot unpickle or
import fails here. The same data run in this process is the reference."""

from __future__ import annotations

import csv
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import taxi_sample, write_config

pytestmark = pytest.mark.e2e

RUNNERS = {"local": None, "multiprocess": {"runner": "multiprocess", "workers": 2}}
# Written by Beam's job service for each message of an SDK worker process.
WORKER_LOG = "local_job_service: Worker:"


def _artifact(home: str, component: str, output: str) -> str:
    folders = glob.glob(os.path.join(home, "pipelines", "taxi-multihead", component, output, "*"))
    assert len(folders) == 1, folders
    return folders[0]


def _records(folder: str) -> dict[str, list[bytes]]:
    """Each split's examples, sorted: serialized with their features in name
    order (the writers put them in an order that changes from one process to
    the next, and workers write shards in no set order)."""
    splits = {}
    for split in sorted(glob.glob(os.path.join(folder, "Split-*"))):
        files = sorted(glob.glob(os.path.join(split, "*")))
        dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
        splits[os.path.basename(split)] = sorted(
            tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
            for r in dataset
        )
    return splits


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("workers")
    data, score = root / "data", root / "score"
    data.mkdir()
    score.mkdir()
    taxi_sample(str(data / "taxi.csv"), 2000)
    taxi_sample(str(score / "trips.csv"), 300, seed_every=7)
    runs = {}
    for runner, beam in RUNNERS.items():
        config = write_config(
            root / f"{runner}.yaml",
            data,
            auc_lower=0.6,
            steps=200,
            slices=[["payment_type"]],
            scoring={"data": str(score), "keep": ["trip_miles"]},
            beam=beam,
        )
        home = str(root / runner)
        command = [sys.executable, "-m", "pipeline.cli", "run", "--config", config]
        result = subprocess.run(
            [*command, "--home", home], capture_output=True, text=True, timeout=1200
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        (log,) = glob.glob(os.path.join(home, "logs", "*.log"))
        with open(log) as f:
            runs[runner] = {"home": home, "stdout": result.stdout, "log": f.read()}
    return runs


def test_every_beam_step_ran_on_worker_processes(runs):
    log = runs["multiprocess"]["log"]
    worker_lines = [line for line in log.splitlines() if WORKER_LOG in line]
    assert len(worker_lines) > 10
    assert any("multi_processing" in line for line in worker_lines)
    assert WORKER_LOG not in runs["local"]["log"]
    # The DirectRunner's workers import what is installed: TFX's source
    # package for remote workers is not built (about 6 s per Beam step).
    assert "Creating temporary sdist package" not in log
    for component in ("CsvExampleGen", "StatisticsGen", "Transform", "MultiHeadEvaluator"):
        assert f"[{component}] done in" in runs["multiprocess"]["stdout"]


def test_workers_read_and_split_the_same_examples_as_one_process(runs):
    """The validation split (early stopping's) too: its rows carved from
    the training rows the same way on the workers."""
    local, workers = (_artifact(runs[r]["home"], "CsvExampleGen", "examples") for r in RUNNERS)
    expected = _records(local)
    assert set(expected) == {"Split-train", "Split-validation", "Split-eval"}
    assert len(expected["Split-validation"]) > 50
    assert _records(workers) == expected


def _transformed(home: str, raw_home: str) -> dict[str, np.ndarray]:
    """The training split of `raw_home`'s run through `home`'s transform
    graph, as the trainer reads it: columns, rows in the file's order."""
    import tensorflow_transform as tft

    from trainer_module.data import transforming_decoder

    decode = transforming_decoder(
        tft.TFTransformOutput(_artifact(home, "Transform", "transform_graph"))
    )
    folder = os.path.join(_artifact(raw_home, "CsvExampleGen", "examples"), "Split-train")
    files = sorted(glob.glob(os.path.join(folder, "*")))
    records = tf.constant([r.numpy() for r in tf.data.TFRecordDataset(files, "GZIP")])
    return {k: v.numpy() for k, v in decode(records).items()}


def test_workers_transform_the_same_examples(runs):
    raw_home = runs["local"]["home"]
    local, workers = (_transformed(runs[r]["home"], raw_home) for r in RUNNERS)
    assert sorted(local) == sorted(workers)
    for name, values in local.items():
        if values.dtype == np.float32 and not name.endswith(("_label", "_weight")):
            # z-scores: the workers combine the mean and variance in another
            # order, so the last bits may differ.
            np.testing.assert_allclose(workers[name], values, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(workers[name], values, err_msg=name)


def test_workers_build_the_same_vocabularies(runs):
    vocabularies = []
    for runner in RUNNERS:
        graph = _artifact(runs[runner]["home"], "Transform", "transform_graph")
        assets = sorted(glob.glob(os.path.join(graph, "transform_fn", "assets", "*")))
        assert assets
        vocabularies.append({os.path.basename(p): open(p, "rb").read() for p in assets})
    assert vocabularies[0] == vocabularies[1]


def test_the_model_trained_on_the_workers_output_is_judged_and_scored_alike(runs):
    summaries = {}
    for runner in RUNNERS:
        with open(os.path.join(runs[runner]["home"], "runs", "latest.json")) as f:
            summaries[runner] = json.load(f)
    local, workers = summaries["local"], summaries["multiprocess"]
    assert workers["blessed"] is True
    # Training batches follow the transformed shards' order, which the
    # workers set: the metrics agree closely, not to the bit.
    auc = [s["heads"]["big_tipper"]["metrics"]["auc"] for s in (local, workers)]
    assert abs(auc[0] - auc[1]) < 0.02
    for head in ("fare", "trip_seconds"):
        mae = [s["heads"][head]["metrics"]["mean_absolute_error"] for s in (local, workers)]
        assert abs(mae[0] - mae[1]) / mae[0] < 0.1, (head, mae)
    # The slicing was computed on the workers: the same slices of the same examples.
    sliced = [
        sorted(
            (kept["slice"], kept["examples"])
            for kept in s["heads"]["big_tipper"]["slices"]["payment_type"]["slices"]
        )
        for s in (local, workers)
    ]
    assert sliced[0] == sliced[1] and len(sliced[0]) >= 3
    predictions = [s["predictions"] for s in (local, workers)]
    assert predictions[0]["rows"] == predictions[1]["rows"] == 300
    kept = []
    for p in predictions:
        with open(p["file"], newline="") as f:
            kept.append(sorted(row["trip_miles"] for row in csv.DictReader(f)))
    assert kept[0] == kept[1]
