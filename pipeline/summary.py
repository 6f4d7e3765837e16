"""The run summary: per-head metrics and verdicts, blessing, pushed model.

Read back from ML Metadata after a run, so a cached run reports the same as
the run that computed its artifacts.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from components import properties, serving
from components.evaluator.component import MultiHeadEvaluator
from components.evaluator.spec import BLESSING_KEY
from components.pusher.component import MultiHeadPusher
from components.pusher.spec import PUSHED_MODEL_KEY
from components.scoring import executor as scoring
from components.scoring.component import BatchScorer
from components.scoring.spec import PREDICTIONS_KEY
from components.served_model.component import ServedModelLookup
from components.served_model.spec import MODEL_KEY as LOOKUP_MODEL_KEY
from components.trainer.component import MultiHeadTrainer
from components.trainer.spec import MODEL_KEY
from pipeline import home as home_layout

RUN_CONTEXT = "pipeline_run"
PIPELINE_CONTEXT = "pipeline"
NODE_CONTEXT = "node"
# Node ids: TFX names a component's node after its class unless given an id.
TRAINER, EVALUATOR = MultiHeadTrainer.__name__, MultiHeadEvaluator.__name__
PUSHER, LOOKUP = MultiHeadPusher.__name__, ServedModelLookup.__name__
SCORER = BatchScorer.__name__
# The stock StatisticsGen's node id and output key.
STATISTICS, STATISTICS_KEY = "StatisticsGen", "statistics"


def _custom(artifact: metadata_store_pb2.Artifact, key: str) -> Any:
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    return getattr(value, value.WhichOneof("value"))


def latest_run(store: mlmd.MetadataStore, pipeline_name: str) -> metadata_store_pb2.Context | None:
    """The newest pipeline_run context of the pipeline."""
    pipeline = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
    if pipeline is None:
        return None
    runs = [c for c in store.get_children_contexts_by_context(pipeline.id) if c.type == RUN_CONTEXT]
    if not runs:
        # Older stores do not link runs to pipelines; fall back on every run.
        pipeline_execs = {e.id for e in store.get_executions_by_context(pipeline.id)}
        runs = [
            c
            for c in store.get_contexts_by_type(RUN_CONTEXT)
            if {e.id for e in store.get_executions_by_context(c.id)} & pipeline_execs
        ]
    return max(runs, key=lambda c: (c.create_time_since_epoch, c.id), default=None)


@dataclasses.dataclass
class RunOutputs:
    """What the run's executions produced: node id -> output key -> artifact,
    and the nodes whose execution in this run came from the cache."""

    artifacts: dict[str, dict[str, metadata_store_pb2.Artifact]]
    cached: set[str]

    def get(self, node: str, key: str) -> metadata_store_pb2.Artifact | None:
        return self.artifacts.get(node, {}).get(key)


def outputs_of_run(store: mlmd.MetadataStore, run: metadata_store_pb2.Context) -> RunOutputs:
    """The output artifacts of the run's executions, by node and output key."""
    executions = {e.id: e for e in store.get_executions_by_context(run.id)}
    node_of = {}
    for context in store.get_contexts_by_type(NODE_CONTEXT):
        for execution in store.get_executions_by_context(context.id):
            if execution.id in executions:
                node_of[execution.id] = context.name.split(".")[-1]
    keyed: dict[tuple[str, str], int] = {}
    for event in store.get_events_by_execution_ids(list(executions)):
        if event.type in (
            metadata_store_pb2.Event.OUTPUT,
            metadata_store_pb2.Event.DECLARED_OUTPUT,
        ):
            if event.path.steps and event.execution_id in node_of:
                keyed[(node_of[event.execution_id], event.path.steps[0].key)] = event.artifact_id
    by_id = {a.id: a for a in store.get_artifacts_by_id(list(set(keyed.values())))}
    artifacts: dict[str, dict[str, metadata_store_pb2.Artifact]] = {}
    for (node, key), artifact_id in keyed.items():
        if artifact_id in by_id:
            artifacts.setdefault(node, {})[key] = by_id[artifact_id]
    cached = {
        node_of[e.id]
        for e in executions.values()
        if e.last_known_state == metadata_store_pb2.Execution.CACHED and e.id in node_of
    }
    return RunOutputs(artifacts, cached)


def served_now(serving_dir: str) -> dict[str, Any] | None:
    """The version the serving folder serves now (the newest), or None."""
    versions = serving.served_versions(serving_dir)
    if not versions:
        return None
    return {"version": versions[-1], "path": serving.version_dir(serving_dir, versions[-1])}


def _json(artifact: metadata_store_pb2.Artifact | None, key: str) -> Any:
    text = _custom(artifact, key) if artifact is not None else None
    return json.loads(text) if text else None


def build_summary(metadata_file: str, pipeline_name: str, serving_dir: str) -> dict[str, Any]:
    """Summary of the newest run of `pipeline_name` in a sqlite MLMD.

    `pushed_model` is what this run pushed (None when its push step came from
    the cache: `push_cached` then names what that earlier execution pushed);
    `served_model` is what `serving_dir` serves now; `served_skipped` names
    served versions that did not load (the lookup used the newest that did).
    """
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_file
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = mlmd.MetadataStore(config)
    run = latest_run(store, pipeline_name)
    if run is None:
        raise LookupError(f"no run of pipeline {pipeline_name!r} in {metadata_file}")
    outputs = outputs_of_run(store, run)
    blessing = outputs.get(EVALUATOR, BLESSING_KEY)
    pushed = outputs.get(PUSHER, PUSHED_MODEL_KEY)
    model = outputs.get(TRAINER, MODEL_KEY)
    lookup = outputs.get(LOOKUP, LOOKUP_MODEL_KEY)
    heads = _json(blessing, properties.VERDICTS) or {}
    # Where each head is served from after this run, and why (pusher).
    for name, source in (_json(pushed, properties.HEAD_SOURCES) or {}).items():
        if name in heads:
            heads[name].update(source)
    pushed_model = None
    if pushed is not None and _custom(pushed, properties.PUSHED) == 1:
        pushed_model = _custom(pushed, properties.PUSHED_DESTINATION)
    push_cached = PUSHER in outputs.cached
    served = [h.get("served") for h in heads.values() if h.get("served")]
    return {
        "run_id": run.name,
        "pipeline": pipeline_name,
        "heads": heads,
        "blessed": bool(blessing is not None and _custom(blessing, properties.BLESSED) == 1),
        "pushed_model": None if push_cached else pushed_model,
        "push_cached": {"pushed_earlier": pushed_model} if push_cached else None,
        "served_model": served_now(serving_dir),
        "served_skipped": _json(lookup, properties.SKIPPED_VERSIONS),
        "model": model.uri if model is not None else None,
        "push_refused": _custom(pushed, properties.PUSH_REFUSED) if pushed is not None else None,
        "warm_start": _json(model, properties.WARM_START),
        "training": _json(model, properties.TRAINING),
        "release": _json(blessing, properties.RELEASE),
        "baseline_version": served[0]["version"] if served else None,
        "predictions": _predictions(outputs.get(SCORER, PREDICTIONS_KEY)),
        # What the report reads: the examples whose eval split judged the
        # model, and their statistics (row counts per split).
        "examples": _custom(blessing, properties.EVALUATED_ON) if blessing is not None else None,
        "statistics": _uri(outputs.get(STATISTICS, STATISTICS_KEY)),
    }


def _uri(artifact: metadata_store_pb2.Artifact | None) -> str | None:
    return artifact.uri if artifact is not None else None


def _predictions(artifact: metadata_store_pb2.Artifact | None) -> dict[str, Any] | None:
    """What BatchScorer wrote: the file, its rows and rejects, the model used."""
    if artifact is None:
        return None
    note = _custom(artifact, scoring.NOTE)
    if note:
        return {"rows": 0, "note": note}
    files = sorted(os.listdir(artifact.uri)) if os.path.isdir(artifact.uri) else []
    scored = [f for f in files if f.startswith("predictions.") and ".rejects." not in f]
    rejected = [f for f in files if ".rejects." in f]
    return {
        "file": os.path.join(artifact.uri, scored[0]) if scored else None,
        "rows": _custom(artifact, scoring.ROWS),
        "rejects": _custom(artifact, scoring.REJECTS) or 0,
        "rejects_file": os.path.join(artifact.uri, rejected[0]) if rejected else None,
        "scored_with": _custom(artifact, scoring.SCORED_WITH),
    }


def write_summary(summary: dict[str, Any], home: str) -> str:
    """Writes runs/<run id>.json and runs/latest.json; returns the latter."""
    runs = os.path.join(home, home_layout.RUNS_DIR)
    os.makedirs(runs, exist_ok=True)
    text = json.dumps(summary, indent=2, sort_keys=True)
    for name in (
        os.path.basename(home_layout.summary_file(home, summary["run_id"])),
        home_layout.LATEST,
    ):
        temporary = os.path.join(runs, f".{name}.tmp")
        with open(temporary, "w") as f:
            f.write(text + "\n")
        os.replace(temporary, os.path.join(runs, name))
    return home_layout.summary_file(home)
