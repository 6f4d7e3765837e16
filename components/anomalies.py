"""The gate on ExampleValidator's verdict: anomalies stop the run by name."""

from __future__ import annotations

import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

SCHEMA_DIFF_FILE = "SchemaDiff.pb"


class AnomaliesFound(RuntimeError):
    """ExampleValidator found anomalies; training must not start."""


def describe(anomalies: anomalies_pb2.Anomalies) -> list[str]:
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        reasons = "; ".join(r.description or r.short_description for r in info.reason)
        lines.append(f"column {feature!r}: {info.short_description} ({reasons})")
    if anomalies.HasField("dataset_anomaly_info"):
        lines.append(f"data set: {anomalies.dataset_anomaly_info.description}")
    return lines


def check_anomalies(artifact: types.Artifact) -> None:
    """Raises AnomaliesFound naming each anomaly of every split."""
    problems = []
    for split in artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), SCHEMA_DIFF_FILE)
        if not fileio.exists(path):
            continue
        anomalies = anomalies_pb2.Anomalies()
        with fileio.open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        problems += [f"split {split!r}: {line}" for line in describe(anomalies)]
    if problems:
        raise AnomaliesFound(
            "ExampleValidator found anomalies; not training:\n  " + "\n  ".join(problems)
        )
