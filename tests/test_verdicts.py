"""Per-head verdicts and the blessing policy, from TFMA-shaped results."""

from __future__ import annotations

from components.evaluator.gates import EvaluationSpec, HeadGates
from components.evaluator.verdicts import Estimate, head_verdict, is_blessed, verdicts


def gates(name: str, task: str, metrics: list[str], **thresholds) -> HeadGates:
    return HeadGates(name=name, task=task, metrics=metrics, thresholds=thresholds, output=name)


SPEC = EvaluationSpec(
    heads=[
        gates("fare", "regression", ["mean_squared_error"], mean_squared_error={"upper": 30.0}),
        gates("tipper", "binary", ["auc", "binary_accuracy"], auc={"lower": 0.7, "upper": 1.0}),
        gates("free", "regression", ["mean_squared_error"]),
    ],
    require=["tipper"],
)


def test_failing_head_reason_names_metric_value_and_threshold():
    verdict = head_verdict(SPEC.head("fare"), {"mean_squared_error": 41.2}, {"mean_squared_error"})
    assert verdict["verdict"] == "fail"
    assert verdict["reasons"] == ["fare: mean_squared_error 41.2 > threshold 30"]
    assert verdict["thresholds"] == {"mean_squared_error": {"upper": 30.0}}


def test_passing_head_says_why():
    verdict = head_verdict(SPEC.head("tipper"), {"auc": 0.91234, "binary_accuracy": 0.8}, set())
    assert verdict["verdict"] == "pass"
    assert verdict["reasons"] == ["tipper: auc 0.9123 >= 0.7 and <= 1"]
    assert verdict["metrics"] == {"auc": 0.91234, "binary_accuracy": 0.8}


def test_missing_metric_fails():
    verdict = head_verdict(SPEC.head("tipper"), {}, set())
    assert verdict["verdict"] == "fail"
    assert verdict["reasons"] == ["tipper: auc was not computed"]


def test_tfma_failure_is_trusted_even_within_bounds():
    verdict = head_verdict(SPEC.head("tipper"), {"auc": 0.9}, {"auc"})
    assert verdict["verdict"] == "fail"
    assert "failed TFMA validation" in verdict["reasons"][0]


def test_head_without_thresholds_passes():
    verdict = head_verdict(SPEC.head("free"), {"mean_squared_error": 1e9}, set())
    assert verdict == {
        "metrics": {"mean_squared_error": 1e9},
        "thresholds": {},
        "verdict": "pass",
        "reasons": ["free: no thresholds set"],
        "failures": 0,
        "served": None,
        "degenerate": None,
        "slices": {},
        "changes": {},
    }


def test_blessing_policy_uses_required_heads_only():
    result = verdicts(
        SPEC,
        {"fare": {"mean_squared_error": 99.0}, "tipper": {"auc": 0.8}, "free": {}},
        {"fare": {"mean_squared_error"}},
    )
    assert result["fare"]["verdict"] == "fail" and result["tipper"]["verdict"] == "pass"
    assert is_blessed(SPEC, result)  # only tipper is required
    all_required = SPEC.model_copy(update={"require": ["fare", "tipper", "free"]})
    assert not is_blessed(all_required, result)


def change_head(**bound) -> HeadGates:
    task = "binary" if "auc" in bound else "regression"
    return gates("h", task, list(bound), **bound)


def test_change_bound_on_higher_is_better_metric():
    head = change_head(auc={"max_worse": 0.01})
    worse = head_verdict(head, {"auc": 0.80}, set(), {"auc": 0.90}, 3)
    assert worse["verdict"] == "fail"
    assert worse["reasons"] == ["h: auc 0.8 vs served v3 0.9, worse by 0.1, allowed 0.01"]
    assert worse["served"] == {"version": 3, "metrics": {"auc": 0.90}}
    slightly = head_verdict(head, {"auc": 0.895}, set(), {"auc": 0.90}, 3)
    assert slightly["verdict"] == "pass"


def test_relative_change_bound_on_an_error():
    head = change_head(mean_squared_error={"max_worse_relative": 0.05})
    within = head_verdict(
        head, {"mean_squared_error": 104.0}, set(), {"mean_squared_error": 100.0}, 1
    )
    assert within["verdict"] == "pass"
    beyond = head_verdict(
        head, {"mean_squared_error": 106.0}, set(), {"mean_squared_error": 100.0}, 1
    )
    assert beyond["verdict"] == "fail"
    assert "worse by 6, allowed 5" in beyond["reasons"][0]
    better = head_verdict(
        head, {"mean_squared_error": 90.0}, set(), {"mean_squared_error": 100.0}, 1
    )
    assert "not worse by 10" in better["reasons"][0]


def test_change_bound_without_served_model_passes_and_says_so():
    head = change_head(auc={"lower": 0.5, "max_worse": 0.01})
    verdict = head_verdict(head, {"auc": 0.7}, set())
    assert verdict["verdict"] == "pass"
    assert "h: auc: no served model to compare with" in verdict["reasons"]


def test_a_degenerate_head_fails_whatever_its_thresholds_and_blocks_the_blessing():
    reason = "free: outputs are the same for all 200 eval examples ([0.5])"
    result = verdicts(
        SPEC,
        {"fare": {"mean_squared_error": 1.0}, "tipper": {"auc": 0.8}, "free": {}},
        {},
        degenerate={"free": reason},
    )
    assert result["free"]["verdict"] == "fail" and result["free"]["reasons"][0] == reason
    assert result["free"]["degenerate"] == reason
    assert not is_blessed(SPEC, result)  # "free" is not required, and still blocks


def test_a_drop_within_the_noise_is_not_refused():
    """A paired interval that reaches below the allowance: the data do not show
    the candidate worse than allowed."""
    head = change_head(mean_absolute_error={"max_worse_relative": 0.15})
    noisy = Estimate(value=74.0, std_error=30.0, degrees_of_freedom=19)  # t(0.975, 19) = 2.093
    verdict = head_verdict(
        head,
        {"mean_absolute_error": 401.0},
        set(),
        {"mean_absolute_error": 327.0},
        2,
        changes={"mean_absolute_error": noisy},
        confidence=0.95,
    )
    assert verdict["verdict"] == "pass"
    assert verdict["reasons"] == [
        "h: mean_absolute_error 401 vs served v2 327, worse by 74 (95% CI 11.21..136.8), "
        "allowed 49.05"
    ]
    # The diff and its interval are kept for the report.
    kept = verdict["changes"]["mean_absolute_error"]
    assert kept["diff"] == 74.0 and kept["confidence"] == 0.95
    assert round(kept["low"], 2) == 11.21 and round(kept["high"], 1) == 136.8


def test_a_drop_the_interval_supports_is_refused():
    head = change_head(auc={"max_worse": 0.01})
    clear = Estimate(value=-0.1, std_error=0.01, degrees_of_freedom=19)
    verdict = head_verdict(
        head, {"auc": 0.8}, set(), {"auc": 0.9}, 3, changes={"auc": clear}, confidence=0.95
    )
    assert verdict["verdict"] == "fail"
    assert "worse by 0.1 (95% CI 0.07907..0.1209), allowed 0.01" in verdict["reasons"][0]
    # The same drop judged on the point estimate alone (confidence: none).
    point = head_verdict(
        head, {"auc": 0.8}, set(), {"auc": 0.9}, 3, changes={"auc": clear}, confidence=None
    )
    assert point["reasons"] == ["h: auc 0.8 vs served v3 0.9, worse by 0.1, allowed 0.01"]
