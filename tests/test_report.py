"""The run report's pieces without a pipeline run: the metric table's text,
and the refusals (an unknown run, a run whose model is gone)."""

from __future__ import annotations

import json
import os

import pytest

from pipeline.errors import ReportError, UsageError
from pipeline.report.build import metric_rows, write_report
from pipeline.report.command import read_summary


def test_a_compared_metric_shows_threshold_served_value_and_the_paired_interval():
    verdict = {
        "metrics": {"auc": 0.9012, "binary_accuracy": 0.85},
        "thresholds": {
            "auc": {
                "lower": 0.75,
                "max_worse": 0.01,
                "per_slice": [{"slicing": ["payment_type"], "lower": 0.7, "min_examples": 100}],
            }
        },
        "served": {"version": 2, "metrics": {"auc": 0.9101, "binary_accuracy": 0.86}},
        "changes": {
            "auc": {"diff": -0.0089, "low": -0.0152, "high": -0.0026, "confidence": 0.95},
            "binary_accuracy": {"diff": -0.01},
        },
    }
    auc, accuracy = metric_rows(verdict)
    assert auc == {
        "metric": "auc",
        "value": "0.9012",
        "threshold": ">= 0.75, worse by <= 0.01; per slice of payment_type",
        "served": "0.9101",
        "change": "-0.0089 (95% CI -0.0152..-0.0026)",
    }
    assert accuracy["threshold"] == "-" and accuracy["change"] == "-0.01"


def test_a_run_whose_model_is_gone_is_named_and_nothing_is_left_half_written(tmp_path):
    summary = {"run_id": "2026-12-01T10:00:00", "heads": {}, "model": str(tmp_path / "gone")}
    with pytest.raises(ReportError, match=r"its model .*gone/Format-Serving is not there"):
        write_report(summary, str(tmp_path / "home"))
    assert os.listdir(tmp_path / "home" / "reports") == []


def test_an_unknown_run_lists_the_runs_the_home_has(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for name in ("2026-12-01T10-00-00.json", "latest.json"):
        (runs / name).write_text(json.dumps({"run_id": "2026-12-01T10:00:00"}))
    with pytest.raises(
        UsageError, match=r"no summary of run 'nope' .*runs there: 2026-12-01T10-00-00$"
    ):
        read_summary(str(tmp_path), "nope")
    assert read_summary(str(tmp_path), "2026-12-01T10:00:00")["run_id"] == "2026-12-01T10:00:00"
    with pytest.raises(UsageError, match="run the pipeline first"):
        read_summary(str(tmp_path / "empty"), None)
