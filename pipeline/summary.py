"""The run summary: per-head metrics and verdicts, blessing, pushed model.

Read back from ML Metadata after a run, so a cached run reports the same as
the run that computed its artifacts.
"""

from __future__ import annotations

import json
import os
from typing import Any

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from components import properties
from components.evaluator.spec import BLESSING_KEY
from components.pusher.spec import PUSHED_MODEL_KEY
from components.trainer.spec import MODEL_KEY

RUN_CONTEXT = "pipeline_run"
PIPELINE_CONTEXT = "pipeline"


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


def outputs_of_run(
    store: mlmd.MetadataStore, run: metadata_store_pb2.Context
) -> dict[str, metadata_store_pb2.Artifact]:
    """Output artifacts of the run's executions by output key (last wins)."""
    executions = store.get_executions_by_context(run.id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    keyed = {}
    for event in events:
        if event.type in (
            metadata_store_pb2.Event.OUTPUT,
            metadata_store_pb2.Event.DECLARED_OUTPUT,
        ):
            if event.path.steps:
                keyed[event.path.steps[0].key] = event.artifact_id
    artifacts = {a.id: a for a in store.get_artifacts_by_id(list(set(keyed.values())))}
    return {key: artifacts[aid] for key, aid in keyed.items() if aid in artifacts}


def build_summary(metadata_file: str, pipeline_name: str) -> dict[str, Any]:
    """Summary of the newest run of `pipeline_name` in a sqlite MLMD."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_file
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = mlmd.MetadataStore(config)
    run = latest_run(store, pipeline_name)
    if run is None:
        raise LookupError(f"no run of pipeline {pipeline_name!r} in {metadata_file}")
    outputs = outputs_of_run(store, run)
    blessing = outputs.get(BLESSING_KEY)
    pushed = outputs.get(PUSHED_MODEL_KEY)
    model = outputs.get(MODEL_KEY)
    heads = json.loads(_custom(blessing, properties.VERDICTS) or "{}") if blessing else {}
    pushed_model = None
    if pushed is not None and _custom(pushed, properties.PUSHED) == 1:
        pushed_model = _custom(pushed, properties.PUSHED_DESTINATION)
    warm = _custom(model, properties.WARM_START) if model is not None else None
    served = [h.get("served") for h in heads.values() if h.get("served")]
    return {
        "run_id": run.name,
        "pipeline": pipeline_name,
        "heads": heads,
        "blessed": bool(blessing is not None and _custom(blessing, properties.BLESSED) == 1),
        "pushed_model": pushed_model,
        "model": model.uri if model is not None else None,
        "push_refused": _custom(pushed, properties.PUSH_REFUSED) if pushed is not None else None,
        "warm_start": json.loads(warm) if warm else None,
        "baseline_version": served[0]["version"] if served else None,
    }


def write_summary(summary: dict[str, Any], home: str) -> str:
    """Writes runs/<run id>.json and runs/latest.json; returns the latter."""
    runs = os.path.join(home, "runs")
    os.makedirs(runs, exist_ok=True)
    text = json.dumps(summary, indent=2, sort_keys=True)
    safe_id = summary["run_id"].replace(":", "-").replace("/", "-")
    for name in (f"{safe_id}.json", "latest.json"):
        temporary = os.path.join(runs, f".{name}.tmp")
        with open(temporary, "w") as f:
            f.write(text + "\n")
        os.replace(temporary, os.path.join(runs, name))
    return os.path.join(runs, "latest.json")


def _threshold_text(bound: dict[str, float]) -> str:
    parts = []
    if "lower" in bound:
        parts.append(f">= {bound['lower']:g}")
    if "upper" in bound:
        parts.append(f"<= {bound['upper']:g}")
    if "max_worse" in bound:
        parts.append(f"worse by <= {bound['max_worse']:g}")
    if "max_worse_relative" in bound:
        parts.append(f"worse by <= {100 * bound['max_worse_relative']:g}%")
    return ", ".join(parts)


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a plain-text table, one row per head and metric."""
    rows = [("head", "metric", "value", "threshold", "verdict")]
    for head, info in sorted(summary["heads"].items()):
        for metric, value in sorted(info["metrics"].items()):
            bound = info["thresholds"].get(metric, {})
            text = _threshold_text(bound)
            rows.append((head, metric, f"{value:.4g}", text or "-", info["verdict"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for info in summary["heads"].values():
        if info["verdict"] != "pass":
            lines += [f"  {reason}" for reason in info["reasons"]]
    lines.append(f"blessed: {'yes' if summary['blessed'] else 'no'}")
    lines.append(f"pushed model: {summary['pushed_model'] or 'none'}")
    if summary.get("push_refused"):
        lines.append(summary["push_refused"])
    if summary.get("warm_start"):
        warm = summary["warm_start"]
        lines.append(f"warm start: {', '.join(warm['warm']) or 'no head'}")
        lines += [f"  {group} started fresh: {why}" for group, why in warm["fresh"].items()]
    return "\n".join(lines)
