"""Shared pieces of the benchmarks: one pipeline run to reuse, timing, results."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pipeline.config import PipelineConfig
from pipeline.config_file import DEFAULT_CONFIG, load_config

__all__ = ["DEFAULT_CONFIG", "Prepared", "prepare", "result", "save"]
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

BENCH_HOME = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".bench")


@dataclasses.dataclass
class Prepared:
    """Artifacts of one pipeline run on the taxi data, read from ML Metadata."""

    config: PipelineConfig
    home: str
    transform_graph: str
    raw_examples: str
    model: str


def prepare(home: str = BENCH_HOME, config_path: str = DEFAULT_CONFIG) -> Prepared:
    """Runs (or reuses from cache) `multihead run` under `home`."""
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.summary import latest_run, outputs_of_run

    config = load_config(config_path)
    command = [sys.executable, "-m", "pipeline.cli", "run", "--config", config_path, "--home", home]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pipeline run failed:\n{result.stderr[-2000:]}")
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = os.path.join(home, "metadata.sqlite")
    store = mlmd.MetadataStore(connection)
    outputs = outputs_of_run(store, latest_run(store, config.name))
    return Prepared(
        config=config,
        home=home,
        transform_graph=outputs.get("Transform", "transform_graph").uri,
        raw_examples=outputs.get("CsvExampleGen", "examples").uri,
        model=outputs.get("MultiHeadTrainer", "model").uri,
    )


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def result(benchmark: str, figure: str, value: float, target: str, met: bool) -> str:
    line = f"RESULT {benchmark} {figure}={value:.4g} target={target} {'met' if met else 'missed'}"
    print(line, flush=True)
    return line


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start


def save(name: str, outcome: dict, smoke: bool, stem: str | None = None) -> None:
    """Writes bench/results/<stem or name>.json (not for smoke runs) for bench.plot.

    `name` is the benchmark's module (bench.<name>), written with the
    command; `stem` keeps a second kind of run of it (a profile) apart.
    """
    if smoke:
        return
    os.makedirs(RESULTS_DIR, exist_ok=True)
    outcome = {
        **outcome,
        "machine": machine(),
        "command": " ".join(["python", "-m", f"bench.{name}", *sys.argv[1:]]),
    }
    with open(os.path.join(RESULTS_DIR, f"{stem or name}.json"), "w") as f:
        json.dump(outcome, f, indent=2, sort_keys=True)
