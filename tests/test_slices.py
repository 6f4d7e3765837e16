"""Per-slice gates on TFMA results written by hand: which slices are judged,
kept and named, and how the served model is compared on each slice."""

from __future__ import annotations

import math

from components.evaluator.eval_config import BASELINE, CANDIDATE
from components.evaluator.gates import EvaluationSpec, HeadGates
from components.evaluator.results import SliceResults
from components.evaluator.slices import check_slices
from components.evaluator.verdicts import Estimate, head_verdict


def spec(per_slice: dict, slices=(("payment_type",),), kept: int = 20) -> EvaluationSpec:
    head = HeadGates(
        name="tipper",
        task="binary",
        metrics=["auc"],
        thresholds={"auc": {"lower": 0.7, "per_slice": per_slice}},
        output="tipper",
    )
    return EvaluationSpec(
        heads=[head],
        require=["tipper"],
        compare=True,
        slices=[list(s) for s in slices],
        slices_kept=kept,
    )


def results(
    slices: dict,
    served: dict | None = None,
    changes: dict | None = None,
    errors: dict | None = None,
) -> dict:
    """Slice key -> (auc, examples) of the candidate; served and changes
    alike; errors: slice key -> the standard error of the candidate's auc."""
    found = {(): SliceResults({CANDIDATE: {"tipper": {"auc": 0.9, "example_count": 1000.0}}})}
    for key, (auc, count) in slices.items():
        metrics = {CANDIDATE: {"tipper": {"auc": auc, "example_count": float(count)}}}
        if served and key in served:
            metrics[BASELINE] = {"tipper": {"auc": served[key], "example_count": float(count)}}
        found[key] = SliceResults(metrics, {"tipper": {"auc": changes[key]}} if changes else {})
        if errors and key in errors:
            estimate = Estimate(auc, errors[key], 19)
            found[key].estimates = {CANDIDATE: {"tipper": {"auc": estimate}}}
    return found


CASH, CARD, OTHER = (
    (("payment_type", "Cash"),),
    (("payment_type", "Credit Card"),),
    (("payment_type", "Pcard"),),
)


def test_a_slice_below_its_bound_fails_the_head_and_is_named_with_its_size():
    checks = check_slices(
        spec({"slicing": ["payment_type"], "lower": 0.6}),
        results({CASH: (0.58, 412), CARD: (0.93, 500)}),
        None,
    )["tipper"]
    assert checks.failures == [
        "tipper on payment_type=Cash (412 examples): auc 0.58 < threshold 0.6"
    ]
    verdict = head_verdict(
        spec({"slicing": ["payment_type"], "lower": 0.6}).heads[0],
        {"auc": 0.9},
        set(),
        slices=checks,
    )
    assert verdict["verdict"] == "fail"
    assert verdict["reasons"] == [
        "tipper on payment_type=Cash (412 examples): auc 0.58 < threshold 0.6",
        "tipper: auc 0.9 >= 0.7",
    ]
    shown = verdict["slices"]["payment_type"]["slices"]
    assert [(s["slice"], s["verdict"]) for s in shown] == [
        ("payment_type=Cash", "fail"),
        ("payment_type=Credit Card", "pass"),
    ]


def test_a_slice_smaller_than_min_examples_is_reported_never_judged():
    checks = check_slices(
        spec({"slicing": ["payment_type"], "lower": 0.6, "min_examples": 100}),
        results({CASH: (0.2, 99), CARD: (0.93, 500)}),
        None,
    )["tipper"]
    assert checks.failures == []
    assert checks.passes == [
        "tipper: auc within bounds on every judged slice of payment_type "
        "(1 of 2 slices have >= 100 examples)"
    ]
    small = next(s for s in checks.slicings["payment_type"]["slices"] if s["examples"] == 99)
    assert small["verdict"] == "not judged"
    assert small["notes"] == ["fewer than 100 examples: auc not judged"]


def test_a_metric_a_slice_cannot_have_is_not_a_failure():
    """An AUC on a slice whose labels are all one class is not defined."""
    checks = check_slices(
        spec({"slicing": ["payment_type"], "lower": 0.6}), results({CASH: (math.nan, 900)}), None
    )["tipper"]
    assert checks.failures == []
    (cash,) = checks.slicings["payment_type"]["slices"]
    assert cash["verdict"] == "not judged"
    assert cash["notes"] == ["auc is not defined on this slice: not judged"]


def test_every_failing_slice_is_kept_worst_first_then_the_largest():
    values = {(("hour", h),): (0.5 + h / 100, 200 + h) for h in range(24)}
    checks = check_slices(
        spec({"slicing": ["hour"], "lower": 0.55}, slices=(("hour",),), kept=7), results(values), 3
    )["tipper"]
    kept = checks.slicings["hour"]
    # Hours 0..4 fail (auc < 0.55), the lowest first; then the two largest of the rest.
    assert [s["slice"] for s in kept["slices"]] == [f"hour={h}" for h in (0, 1, 2, 3, 4, 23, 22)]
    assert kept["others"] == {"slices": 17, "examples": sum(200 + h for h in range(5, 22))}
    assert len(checks.failures) == 5 and checks.failures[0].startswith("tipper on hour=0 (200 ")
    assert (kept["judged"], kept["failing"]) == (24, 5)


def test_a_crossed_slicing_names_its_columns_in_the_configured_order():
    key = (("company", "Flash Cab"), ("payment_type", "Cash"))  # TFMA's own order
    checks = check_slices(
        spec(
            {"slicing": ["payment_type", "company"], "lower": 0.6},
            slices=(("payment_type", "company"),),
        ),
        results({key: (0.4, 300)}),
        None,
    )["tipper"]
    assert checks.failures == [
        "tipper on payment_type=Cash, company=Flash Cab (300 examples): auc 0.4 < threshold 0.6"
    ]
    assert checks.slicings["payment_type,company"]["slices"][0]["values"] == {
        "payment_type": "Cash",
        "company": "Flash Cab",
    }


def test_a_change_on_a_slice_is_refused_only_when_its_paired_interval_is_worse():
    bound = {"slicing": ["payment_type"], "max_worse": 0.02}
    served = {CASH: 0.80, CARD: 0.80}
    # Both 0.05 worse than served; Cash's interval is wide (few examples), Card's narrow.
    changes = {CASH: Estimate(-0.05, 0.03, 19), CARD: Estimate(-0.05, 0.005, 19)}
    checks = check_slices(
        spec(bound), results({CASH: (0.75, 150), CARD: (0.75, 2000)}, served, changes), 6
    )["tipper"]
    assert len(checks.failures) == 1
    assert checks.failures[0].startswith(
        "tipper on payment_type=Credit Card (2000 examples): auc 0.75 vs served v6 0.8, "
        "worse by 0.05"
    )
    assert "95% CI" in checks.failures[0] and checks.failures[0].endswith("allowed 0.02")
    card = next(s for s in checks.slicings["payment_type"]["slices"] if s["verdict"] == "fail")
    assert card["served"] == {"auc": 0.8}


def test_a_slice_is_refused_only_when_its_whole_interval_is_beyond_the_bound():
    """Slices are small: with intervals on, a value below the bound whose
    interval still reaches it is noted, not refused; an undefined interval
    (one positive in the slice) is not judged."""
    hour = {h: (("hour", h),) for h in range(3)}
    checks = check_slices(
        spec({"slicing": ["hour"], "lower": 0.6}, slices=(("hour",),)),
        results(
            {hour[0]: (0.45, 300), hour[1]: (0.58, 150), hour[2]: (0.3, 600)},
            errors={hour[0]: 0.02, hour[1]: 0.05, hour[2]: math.nan},
        ),
        None,
    )["tipper"]
    assert len(checks.failures) == 1
    assert checks.failures[0].startswith("tipper on hour=0 (300 examples): auc 0.45 (95% CI 0.4")
    assert checks.failures[0].endswith(") < threshold 0.6")
    by_slice = {s["slice"]: s for s in checks.slicings["hour"]["slices"]}
    unsure = by_slice["hour=1"]
    assert unsure["verdict"] == "pass"
    assert unsure["reasons"][0].endswith(
        "< threshold 0.6; its interval reaches the threshold: not refused"
    )
    low, high = unsure["intervals"]["auc"]
    assert low < 0.58 < 0.6 < high
    assert by_slice["hour=2"]["verdict"] == "not judged"
    assert by_slice["hour=2"]["notes"] == [
        "auc has no interval on this slice (too few examples of one class?): not judged"
    ]


def test_a_slice_of_one_class_only_is_not_judged_on_its_auc():
    """TFMA reports an AUC of 0 on a slice without positives; it means nothing."""
    found = results({CASH: (0.0, 900), CARD: (0.8, 400)})
    found[CASH].metrics[CANDIDATE]["tipper"]["mean_label"] = 0.0
    found[CARD].metrics[CANDIDATE]["tipper"]["mean_label"] = 0.6
    checks = check_slices(spec({"slicing": ["payment_type"], "lower": 0.6}), found, None)["tipper"]
    assert checks.failures == []
    by_slice = {s["slice"]: s for s in checks.slicings["payment_type"]["slices"]}
    cash, card = by_slice["payment_type=Cash"], by_slice["payment_type=Credit Card"]
    assert (cash["positives"], cash["verdict"]) == (0, "not judged")
    assert cash["notes"] == ["auc is not defined on this slice: not judged"]
    assert (card["positives"], card["verdict"]) == (240, "pass")
