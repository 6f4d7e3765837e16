"""The push decision, per head: which heads the pushed model takes from the
candidate and which it keeps from the served version.

`whole` release (or no model served): the candidate is pushed when every
required head passes and no head is degenerate, or nothing is.

`per_head` release with a model served: a failing head (required or not,
degenerate included) keeps its served version when that version has it;
the others come from the candidate. The push is blocked when a failing
head that must not be served as it is (a required or a degenerate one)
cannot be kept from the served version (that version lacks it, or was
exported before models could be composed), and when every head fails
(the served version already is what would be pushed).
"""

from __future__ import annotations

from typing import Any

from components.evaluator.gates import WHOLE, EvaluationSpec
from components.evaluator.verdicts import FAIL, is_blessed
from components.properties import FROM_CANDIDATE as CANDIDATE
from components.properties import FROM_SERVED as SERVED


def _first_failure(verdict: dict[str, Any]) -> str:
    return (verdict["reasons"] or ["fails its gates"])[0]


def plan(
    spec: EvaluationSpec,
    head_verdicts: dict[str, dict[str, Any]],
    served_version: int | None,
    served_heads: list[str] | None,
) -> tuple[bool, dict[str, Any]]:
    """(blessed, release), release being {"policy", "served_version",
    "heads": {head: {"from": "candidate" | "served", "reason"}}, "blocked"}.

    Args:
      served_heads: the heads of the served version that can be kept (None:
        it was exported before models could be composed).
    """
    failing = [name for name, v in head_verdicts.items() if v["verdict"] == FAIL]
    release: dict[str, Any] = {
        "policy": spec.release,
        "served_version": served_version,
        "heads": {},
        "blocked": None,
    }
    if spec.release == WHOLE or served_version is None:
        blessed = is_blessed(spec, head_verdicts)
        for name, verdict in head_verdicts.items():
            reason = _first_failure(verdict) if name in failing else "passes its gates"
            release["heads"][name] = {"from": CANDIDATE, "reason": reason}
        if not blessed:
            release["blocked"] = "a required head fails, or a head is degenerate"
        return blessed, release
    blockers = []
    for name, verdict in head_verdicts.items():
        if name not in failing:
            release["heads"][name] = {"from": CANDIDATE, "reason": "passes its gates"}
            continue
        reason = _first_failure(verdict)
        if served_heads is not None and name in served_heads:
            release["heads"][name] = {"from": SERVED, "reason": reason}
            continue
        release["heads"][name] = {"from": CANDIDATE, "reason": reason}
        if name in spec.require or verdict.get("degenerate"):
            why = (
                f"served version {served_version} has no head {name!r}"
                if served_heads is not None
                else f"served version {served_version} was exported before models could be "
                "composed; push one whole model first (push.release: whole)"
            )
            blockers.append(f"{name} fails and cannot keep its served version: {why}")
    kept = [n for n, h in release["heads"].items() if h["from"] == SERVED]
    if blockers:
        release["blocked"] = "; ".join(blockers)
    elif len(kept) == len(head_verdicts):
        release["blocked"] = (
            f"every head fails its gates: served version {served_version} stays as it is"
        )
    return release["blocked"] is None, release
