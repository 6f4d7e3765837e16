"""A run's report: gathered from its summary and the artifacts it names,
written to `<home>/reports/<run id>/` in one rename (never half-written)."""

from __future__ import annotations

import datetime
import glob
import json
import os
import shutil
from typing import Any

import jinja2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.utils import path_utils

from components.trainer.spec import REPORT_FILE
from pipeline import home as home_layout
from pipeline.errors import ReportError
from pipeline.report import plots as drawing
from pipeline.report.scores import LIMIT, eval_files, score
from pipeline.summary_text import best_validation, threshold_text
from trainer_module.export import signature_inputs, signature_outputs
from trainer_module.part_info import read_parts

TEMPLATE = "template.html"
STATISTICS_FILE = "FeatureStats.pb"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def row_counts(statistics_uri: str | None) -> list[tuple[str, int]]:
    """(split, rows) from StatisticsGen's output, train first."""
    if not statistics_uri:
        return []
    counts = []
    for path in sorted(glob.glob(os.path.join(statistics_uri, "Split-*", STATISTICS_FILE))):
        found = statistics_pb2.DatasetFeatureStatisticsList()
        with open(path, "rb") as f:
            found.ParseFromString(f.read())
        split = os.path.basename(os.path.dirname(path)).removeprefix("Split-")
        counts.append((split, sum(d.num_examples for d in found.datasets)))
    return sorted(counts, key=lambda c: (c[0] != "train", c[0]))


def _change_text(change: dict[str, float] | None) -> str:
    if not change:
        return "-"
    text = f"{change['diff']:+.4g}"
    if "low" in change:
        text += f" ({100 * change['confidence']:g}% CI {change['low']:+.4g}..{change['high']:+.4g})"
    return text


def _threshold(bound: dict[str, Any]) -> str:
    text = threshold_text(bound)
    if bound.get("per_slice"):
        slicings = ", ".join(",".join(s["slicing"]) for s in bound["per_slice"])
        text = f"{text}; per slice of {slicings}" if text else f"per slice of {slicings}"
    return text or "-"


def metric_rows(verdict: dict[str, Any]) -> list[dict[str, str]]:
    """Each metric: this run's value, its threshold, the served model's
    value and the change with its interval (where the gate had one)."""
    served = (verdict.get("served") or {}).get("metrics") or {}
    changes = verdict.get("changes") or {}
    return [
        {
            "metric": metric,
            "value": _fmt(value),
            "threshold": _threshold(verdict["thresholds"].get(metric, {})),
            "served": _fmt(served.get(metric)),
            "change": _change_text(changes.get(metric)),
        }
        for metric, value in sorted(verdict["metrics"].items())
    ]


def _slicings(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    result = []
    for name, kept in sorted((verdict.get("slices") or {}).items()):
        metrics = sorted({m for entry in kept["slices"] for m in entry["metrics"]})
        others = kept.get("others") or {}
        result.append(
            {
                "name": name,
                "metrics": metrics,
                "slices": [
                    {
                        "slice": entry["slice"],
                        "examples": entry["examples"],
                        "cells": [_fmt(entry["metrics"].get(m)) for m in metrics],
                        "verdict": entry["verdict"],
                    }
                    for entry in kept["slices"]
                ],
                "others": (
                    f"{others['slices']:,} smaller slices not shown "
                    f"({others['examples']:,} examples)"
                    if others.get("slices")
                    else ""
                ),
            }
        )
    return result


def _served_text(head: dict[str, Any]) -> str:
    if "served_from" not in head:
        return ""
    version = head["served_from"]
    if version is None:
        return f"not served: {head['reason']}"
    where = "kept from the served model" if head["from"] == "served" else "from this run"
    return f"served as version {version}, {where}: {head['reason']}"


def _training_rows(
    name: str, training: dict[str, Any] | None, warm: dict[str, Any] | None
) -> list[tuple[str, str]]:
    if not training:
        return [("training report", "not found")]
    if name in (training.get("frozen") or []):
        return [("frozen", "not trained: served from the served model, bit for bit")]
    rows = [
        (
            "steps run",
            f"{training['steps']:,} ({training['fit_seconds']:.1f} s, all heads together)",
        )
    ]
    labels = (training.get("labels") or {}).get(name)
    if labels:
        present = labels["rows"] - labels["missing"]
        rows.append(("labelled train rows", f"{present:,} of {labels['rows']:,}"))
    stopping = (training.get("early_stopping") or {}).get(name)
    if stopping:
        stopped = stopping["stopped_at"]
        rows.append(
            (
                "early stopping",
                f"stopped at step {stopped:,}" if stopped else "ran to the last step",
            )
        )
        monitor, best = best_validation(stopping)
        if best is not None:
            rows.append(
                (
                    f"best validation {monitor}",
                    f"{_fmt(best)} at step {stopping['best_step']:,} "
                    "(its weights are the ones kept)",
                )
            )
    if training.get("validation"):
        rows.append(("validation", training["validation"]["source"]))
    for key, label in (
        ("train_loss", "train loss (last log_every steps)"),
        ("eval_loss", "eval loss"),
    ):
        if name in (training.get(key) or {}):
            rows.append((label, _fmt(training[key][name])))
    if warm:
        if name in warm.get("warm", []):
            rows.append(("warm start", "from the served model"))
        elif name in warm.get("fresh", {}):
            rows.append(("warm start", f"started fresh: {warm['fresh'][name]}"))
    return rows


def _signatures(model_dir: str) -> list[tuple[str, str, str]]:
    def text(tensors: dict[str, tuple[str, Any]]) -> str:
        return ", ".join(
            f"{key} ({dtype.removeprefix('DT_').lower()})"
            for key, (dtype, _) in sorted(tensors.items())
        )

    inputs, outputs = signature_inputs(model_dir), signature_outputs(model_dir)
    return [(name, text(inputs[name]), text(outputs[name])) for name in sorted(outputs)]


def _predictions_text(predictions: dict[str, Any] | None) -> str:
    if not predictions:
        return ""
    if predictions.get("note"):
        return predictions["note"]
    text = f"{predictions['rows']:,} rows in {predictions['file']}"
    if predictions.get("rejects"):
        text += f"; {predictions['rejects']:,} rejected ({predictions['rejects_file']})"
    return text


def _warm_text(warm: dict[str, Any] | None) -> str:
    if not warm:
        return ""
    text = f"warm: {', '.join(warm['warm']) or 'no head'}"
    for group, why in warm.get("fresh", {}).items():
        text += f"; {group} fresh ({why})"
    return text


def _run(summary: dict[str, Any]) -> dict[str, Any]:
    release = summary.get("release") or {}
    cached = summary.get("push_cached")
    note = summary.get("push_refused") or ""
    if cached:
        earlier = cached.get("pushed_earlier")
        note = f"push step cached: an earlier run pushed {earlier}" if earlier else "push cached"
    return {
        **{k: summary.get(k) for k in ("run_id", "pipeline", "blessed", "pushed_model")},
        **{k: summary.get(k) for k in ("served_model", "baseline_version", "model", "seconds")},
        **{k: summary.get(k) for k in ("config", "data", "spans")},
        "release_policy": release.get("policy", "whole"),
        "release_blocked": release.get("blocked"),
        "push_note": note,
        "warm_start": _warm_text(summary.get("warm_start")),
        "predictions": _predictions_text(summary.get("predictions")),
    }


def _model_dir(summary: dict[str, Any]) -> str:
    model = summary.get("model")
    folder = path_utils.serving_model_path(model) if model else None
    if not folder or not os.path.isdir(folder):
        raise ReportError(
            f"run {summary['run_id']}: its model {folder or '(none recorded)'} is not there; "
            "the report draws its plots and signatures from it (was the home's pipelines/ "
            "folder cleaned?)"
        )
    return folder


def render(summary: dict[str, Any], folder: str, progress=print) -> None:
    """Writes the page and its plots into `folder` (which exists)."""
    model_dir = _model_dir(summary)
    training = _read_json(os.path.join(summary["model"], REPORT_FILE))
    classes = {h: c for part in read_parts(model_dir) or [] for h, c in part.classes.items()}
    verdicts = summary["heads"]
    files = eval_files(summary["examples"]) if summary.get("examples") else []
    outputs = {name: v["output"] for name, v in verdicts.items() if v.get("output")}
    progress(f"report: scoring this run's model on up to {LIMIT:,} eval rows")
    scores = score(model_dir, files, outputs) if files and outputs else {}
    warm = summary.get("warm_start")
    heads = []
    for name, verdict in sorted(verdicts.items()):
        head_scores = scores.get(name)
        plots = []
        if head_scores is not None:
            plots += drawing.task_plots(
                name, verdict["task"], head_scores, classes.get(name, []), folder
            )
        curves = ((training or {}).get("curves") or {}).get(name)
        measured = ((training or {}).get("validation") or {}).get("source", "the eval split")
        curve = drawing.loss_curves(name, curves, folder, measured) if curves else None
        if curve is not None:
            plots.append(curve)
        served = verdict.get("served") or {}
        failing = verdict.get(
            "failures", len(verdict["reasons"]) if verdict["verdict"] == "fail" else 0
        )
        heads.append(
            {
                "name": name,
                "task": verdict.get("task", "?"),
                "verdict": verdict["verdict"],
                "reasons": [(r, i < failing) for i, r in enumerate(verdict["reasons"])],
                "served_text": _served_text(verdict),
                "compared": bool(served),
                "served_version": served.get("version"),
                "metrics": metric_rows(verdict),
                "holdout": [
                    (m, _fmt(v), _fmt((verdict["holdout"].get("served") or {}).get(m)))
                    for m, v in sorted(verdict["holdout"]["metrics"].items())
                ]
                if verdict.get("holdout")
                else [],
                "slicings": _slicings(verdict),
                "plots": plots,
                "scored_rows": head_scores.rows if head_scores else 0,
                "scored_capped": LIMIT
                if head_scores and len(files) and head_scores.rows >= LIMIT
                else 0,
                "no_plots": "no eval examples were found for this run: no plots"
                if not files
                else "no labelled eval rows for this head: no plots",
                "training": _training_rows(name, training, warm),
            }
        )
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.dirname(__file__)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    page = environment.get_template(TEMPLATE).render(
        run=_run(summary),
        heads=heads,
        rows=row_counts(summary.get("statistics")),
        components=sorted((summary.get("components") or {}).items()),
        signatures=_signatures(model_dir),
        written=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    with open(os.path.join(folder, home_layout.REPORT_PAGE), "w") as f:
        f.write(page)


def write_report(summary: dict[str, Any], home: str, progress=print) -> str:
    """Builds the run's report beside the others; returns its page.

    Raises:
      ReportError: the run's model is gone.
    """
    final = home_layout.report_dir(home, summary["run_id"])
    parent, name = os.path.split(final)
    os.makedirs(parent, exist_ok=True)
    temporary, old = os.path.join(parent, f".{name}.tmp"), os.path.join(parent, f".{name}.old")
    for leftover in (temporary, old):
        shutil.rmtree(leftover, ignore_errors=True)
    os.makedirs(temporary)
    try:
        render(summary, temporary, progress)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    if os.path.exists(final):
        os.replace(final, old)
    os.replace(temporary, final)
    shutil.rmtree(old, ignore_errors=True)
    return os.path.join(final, home_layout.REPORT_PAGE)
