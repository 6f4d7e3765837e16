"""The per-head push decision: which heads come from the candidate, which stay served."""

from __future__ import annotations

from components.evaluator.gates import EvaluationSpec
from components.evaluator.release import plan
from tests.test_verdicts import gates


def _spec(release: str = "per_head", require: list[str] | None = None) -> EvaluationSpec:
    return EvaluationSpec(
        heads=[
            gates("tipper", "binary", ["auc"], auc={"lower": 0.7}),
            gates("fare", "regression", ["mean_absolute_error"]),
        ],
        require=require if require is not None else ["tipper", "fare"],
        release=release,
    )


def _verdicts(tipper: str = "pass", fare: str = "pass", degenerate: str | None = None) -> dict:
    def one(verdict: str, reason: str) -> dict:
        return {"verdict": verdict, "reasons": [reason], "degenerate": None}

    result = {
        "tipper": one(tipper, "tipper: auc 0.61 < threshold 0.7"),
        "fare": one(fare, "fare: no thresholds set"),
    }
    if degenerate:
        result["fare"].update(verdict="fail", degenerate=degenerate, reasons=[degenerate])
    return result


def _sources(release: dict) -> dict[str, str]:
    return {name: head["from"] for name, head in release["heads"].items()}


def test_a_failing_head_keeps_its_served_version_and_the_rest_is_pushed():
    blessed, release = plan(_spec(), _verdicts(tipper="fail"), 2, ["tipper", "fare"])
    assert blessed
    assert _sources(release) == {"tipper": "served", "fare": "candidate"}
    assert release["heads"]["tipper"]["reason"] == "tipper: auc 0.61 < threshold 0.7"
    assert release["served_version"] == 2 and release["blocked"] is None


def test_a_degenerate_head_is_kept_from_the_served_version_too():
    blessed, release = plan(_spec(), _verdicts(degenerate="fare: constant outputs"), 2, None)
    assert not blessed  # the served version predates composition: nothing to keep fare from
    assert "fare fails and cannot keep its served version" in release["blocked"]
    assert "push.release: whole" in release["blocked"]
    blessed, release = plan(_spec(), _verdicts(degenerate="fare: constant outputs"), 2, ["fare"])
    assert blessed and _sources(release)["fare"] == "served"


def test_a_required_head_new_in_the_candidate_cannot_fall_back():
    blessed, release = plan(_spec(), _verdicts(tipper="fail"), 2, ["fare"])
    assert not blessed
    assert release["blocked"] == (
        "tipper fails and cannot keep its served version: served version 2 has no head 'tipper'"
    )


def test_a_failing_head_that_is_not_required_and_not_served_is_pushed_as_it_is():
    blessed, release = plan(_spec(require=["fare"]), _verdicts(tipper="fail"), 2, ["fare"])
    assert blessed and _sources(release) == {"tipper": "candidate", "fare": "candidate"}


def test_when_every_head_fails_the_served_version_stays():
    blessed, release = plan(_spec(), _verdicts("fail", "fail"), 4, ["tipper", "fare"])
    assert not blessed
    assert release["blocked"] == "every head fails its gates: served version 4 stays as it is"


def test_whole_release_and_first_push_block_on_a_failing_required_head():
    for release_policy, served in (("whole", 2), ("per_head", None)):
        blessed, release = plan(
            _spec(release_policy), _verdicts(tipper="fail"), served, ["tipper", "fare"]
        )
        assert not blessed
        assert _sources(release) == {"tipper": "candidate", "fare": "candidate"}
