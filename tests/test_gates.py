"""Gates before training: ExampleValidator anomalies and unusable labels."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts

from components.anomalies import SCHEMA_DIFF_FILE, AnomaliesFound, check_anomalies
from pipeline.config_file import parse_config
from trainer_module.data import check_labels, scan_labels


def anomalies_artifact(root, per_split: dict[str, anomalies_pb2.Anomalies]):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(root)
    artifact.split_names = artifact_utils.encode_split_names(list(per_split))
    for split, anomalies in per_split.items():
        folder = os.path.join(str(root), f"Split-{split}")
        os.makedirs(folder)
        with open(os.path.join(folder, SCHEMA_DIFF_FILE), "wb") as f:
            f.write(anomalies.SerializeToString())
    return artifact


def test_anomalies_are_named_by_split_and_column(tmp_path):
    found = anomalies_pb2.Anomalies()
    info = found.anomaly_info["payment_type"]
    info.short_description = "Unexpected string values"
    info.reason.add(description="Examples contain values missing from the schema: Bitcoin.")
    artifact = anomalies_artifact(tmp_path, {"train": anomalies_pb2.Anomalies(), "eval": found})
    with pytest.raises(AnomaliesFound) as caught:
        check_anomalies(artifact)
    message = str(caught.value)
    assert "split 'eval': column 'payment_type': Unexpected string values" in message
    assert "Bitcoin" in message
    assert "split 'train'" not in message


def test_no_anomalies_passes(tmp_path):
    artifact = anomalies_artifact(tmp_path, {"train": anomalies_pb2.Anomalies()})
    check_anomalies(artifact)


CONFIG = parse_config(
    {
        "name": "labels",
        "features": [{"name": "x", "type": "numeric"}],
        "heads": [
            {"name": "tipper", "label": "t", "task": "binary"},
            {"name": "fare", "label": "f", "task": "regression"},
            {"name": "secs", "label": "s", "task": "regression", "label_may_be_missing": True},
        ],
    }
)


def dataset(labels: dict[str, list[float]], weights: dict[str, list[float]]):
    batch = ({"x": tf.zeros([3])}, labels, weights)
    return tf.data.Dataset.from_tensors(
        tuple({k: tf.constant(v, tf.float32) for k, v in part.items()} for part in batch)
    )


def test_label_scan_counts_and_moments():
    stats = scan_labels(
        dataset(
            {"tipper": [0, 1, 1], "fare": [2, 4, 6], "secs": [10, 0, 30]},
            {"tipper": [1, 1, 1], "fare": [1, 1, 1], "secs": [1, 0, 1]},
        ),
        CONFIG.heads,
    )
    assert stats["secs"].missing == 1 and stats["secs"].mean == 20.0
    assert stats["fare"].mean == 4.0
    assert np.isclose(stats["fare"].std, np.sqrt(8 / 3))
    check_labels(stats, CONFIG.heads, "train")  # secs may miss labels


def test_missing_and_bad_labels_are_named():
    stats = scan_labels(
        dataset(
            {"tipper": [0, 2, 1], "fare": [2, 0, 6], "secs": [1, 2, 3]},
            {"tipper": [1, 1, 1], "fare": [1, 0, 1], "secs": [1, 1, 1]},
        ),
        CONFIG.heads,
    )
    with pytest.raises(ValueError) as caught:
        check_labels(stats, CONFIG.heads, "train")
    message = str(caught.value)
    assert "head 'fare': 1 of 3 train rows have no label 'f' (missing or NaN)" in message
    assert "head 'tipper': label 't' has values [2.0]; expected 0 or 1" in message
    assert "secs" not in message
