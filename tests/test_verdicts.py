"""Per-head verdicts and the blessing policy, from TFMA-shaped results."""

from __future__ import annotations

from components.evaluator.verdicts import head_verdict, is_blessed, verdicts
from pipeline.config import parse_config

CONFIG = parse_config(
    {
        "name": "v",
        "features": [{"name": "x", "type": "numeric"}],
        "heads": [
            {
                "name": "fare",
                "label": "y1",
                "task": "regression",
                "thresholds": {"mean_squared_error": {"upper": 30.0}},
            },
            {
                "name": "tipper",
                "label": "y2",
                "task": "binary",
                "thresholds": {"auc": {"lower": 0.7, "upper": 1.0}},
            },
            {"name": "free", "label": "y3", "task": "regression"},
        ],
        "evaluation": {"require": ["tipper"]},
    }
)


def test_failing_head_reason_names_metric_value_and_threshold():
    verdict = head_verdict(
        CONFIG.head("fare"), {"mean_squared_error": 41.2}, {"mean_squared_error"}
    )
    assert verdict["verdict"] == "fail"
    assert verdict["reasons"] == ["fare: mean_squared_error 41.2 > threshold 30"]
    assert verdict["thresholds"] == {"mean_squared_error": {"upper": 30.0}}


def test_passing_head_says_why():
    verdict = head_verdict(CONFIG.head("tipper"), {"auc": 0.91234, "binary_accuracy": 0.8}, set())
    assert verdict["verdict"] == "pass"
    assert verdict["reasons"] == ["tipper: auc 0.9123 >= 0.7 and <= 1"]
    assert verdict["metrics"] == {"auc": 0.91234, "binary_accuracy": 0.8}


def test_missing_metric_fails():
    verdict = head_verdict(CONFIG.head("tipper"), {}, set())
    assert verdict["verdict"] == "fail"
    assert verdict["reasons"] == ["tipper: auc was not computed"]


def test_tfma_failure_is_trusted_even_within_bounds():
    verdict = head_verdict(CONFIG.head("tipper"), {"auc": 0.9}, {"auc"})
    assert verdict["verdict"] == "fail"
    assert "failed TFMA validation" in verdict["reasons"][0]


def test_head_without_thresholds_passes():
    verdict = head_verdict(CONFIG.head("free"), {"mean_squared_error": 1e9}, set())
    assert verdict == {
        "metrics": {"mean_squared_error": 1e9},
        "thresholds": {},
        "verdict": "pass",
        "reasons": ["free: no thresholds set"],
        "served": None,
    }


def test_blessing_policy_uses_required_heads_only():
    result = verdicts(
        CONFIG,
        {"fare": {"mean_squared_error": 99.0}, "tipper": {"auc": 0.8}, "free": {}},
        {"fare": {"mean_squared_error"}},
    )
    assert result["fare"]["verdict"] == "fail" and result["tipper"]["verdict"] == "pass"
    assert is_blessed(CONFIG, result)  # only tipper is required
    all_required = CONFIG.model_copy(update={"evaluation": type(CONFIG.evaluation)()})
    assert not is_blessed(all_required, result)
