"""Shared fixtures: small configs and data built from the bundled taxi sample."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import yaml  # noqa: E402

from pipeline.config_file import DEFAULT_CONFIG, TAXI_CSV  # noqa: E402
from trainer_module.spec import ModelSpec  # noqa: E402

# The components of the pipeline, in order.
COMPONENTS = [
    "CsvExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "Transform",
    "MultiHeadTrainer",
    "MultiHeadEvaluator",
    "MultiHeadPusher",
]


def pytest_collection_modifyitems(items: list) -> None:
    """End-to-end modules first (in their order): with `-n 2 --dist loadfile`
    (make test) both workers start on the long files, and the short ones fill
    in at the end, instead of a long file starting last."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)


def small_spec(**training) -> ModelSpec:
    """Two numeric features, a categorical one, a binary and a regression head."""
    return ModelSpec.model_validate(
        {
            "features": [
                {"name": "x1", "type": "numeric"},
                {"name": "x2", "type": "numeric"},
                {"name": "c", "type": "categorical"},
            ],
            "heads": [
                {"name": "a", "label": "ya", "task": "binary", "tower": [4]},
                {
                    "name": "b",
                    "label": "yb",
                    "task": "regression",
                    "tower": [4],
                    "label_may_be_missing": True,
                },
            ],
            "training": {"seed": 7, **training},
        }
    )


def taxi_sample(path: str, rows: int, seed_every: int = 5) -> str:
    """Writes every `seed_every`-th taxi row (up to `rows`) to `path`."""
    with open(TAXI_CSV) as src, open(path, "w", newline="") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst)
        writer.writerow(next(reader))
        kept = 0
        for index, row in enumerate(reader):
            if index % seed_every == 0:
                writer.writerow(row)
                kept += 1
                if kept >= rows:
                    break
    return path


def write_config(
    path,
    data_dir,
    auc_lower: float,
    schema: str | None = None,
    steps: int = 300,
    require: list[str] | None = None,
    slices: list[list[str]] | None = None,
    auc_per_slice: dict | None = None,
    missing_values: list[str] | None = None,
    scoring: dict | None = None,
    early_stopping: bool = True,
    beam: dict | None = None,
) -> str:
    """The bundled taxi config with lenient thresholds, for end-to-end runs
    (`slices`: evaluation.slices; `auc_per_slice`: big_tipper's per-slice AUC bound)."""
    with open(DEFAULT_CONFIG) as f:
        config = yaml.safe_load(f)
    config["data"] = str(data_dir)
    if schema:
        config["schema"] = schema
    config["training"]["steps"] = steps
    if not early_stopping:  # fixed steps, as before per-head early stopping
        config["training"].pop("early_stopping", None)
        for head in config["heads"]:
            head.pop("early_stopping", None)
    thresholds = {
        "big_tipper": {"auc": {"lower": auc_lower}},
        "fare": {"mean_absolute_error": {"upper": 10.0}},
        "trip_seconds": {"mean_absolute_error": {"upper": 1000.0}},
    }
    if auc_per_slice is not None:
        thresholds["big_tipper"]["auc"]["per_slice"] = auc_per_slice
    for head in config["heads"]:
        head["thresholds"] = thresholds[head["name"]]
    config["evaluation"] = {}
    if require is not None:
        config["evaluation"]["require"] = require
    if slices is not None:
        config["evaluation"]["slices"] = slices
    if missing_values is not None:
        config["missing_values"] = missing_values
    if scoring is not None:
        config["scoring"] = scoring
    if beam is not None:
        config["beam"] = beam
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return str(path)


def rewrite_rows(path, change) -> None:
    """Rewrites the CSV at `path` with `change(index, row)` applied to each row dict."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    for index, row in enumerate(rows):
        change(index, row)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


def kill_when(command: list[str], marker: str) -> str:
    """Starts `command`, kills it (SIGKILL) once it prints `marker`; returns what it printed."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    seen = []
    deadline = time.monotonic() + 600
    for line in process.stdout:
        seen.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    return "".join(seen)
