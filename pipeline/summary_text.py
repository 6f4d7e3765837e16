"""The run summary in words: the table and lines the terminal shows after a
run (pipeline/summary.py builds the summary itself)."""

from __future__ import annotations

from typing import Any

from components import properties


def threshold_text(bound: dict[str, float]) -> str:
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


def _cached_note(summary: dict[str, Any]) -> str:
    cached = summary.get("push_cached")
    if not cached:
        return ""
    earlier = cached["pushed_earlier"]
    if earlier:
        return f" (the push step was cached: an earlier run pushed {earlier})"
    return " (the push step was cached)"


def _release_lines(summary: dict[str, Any]) -> list[str]:
    """Which version serves each head after this run, and why."""
    heads = {n: h for n, h in sorted(summary["heads"].items()) if "served_from" in h}
    if not heads:
        return []
    width = max(len(n) for n in heads)
    lines = [f"release ({(summary.get('release') or {}).get('policy', 'whole')}):"]
    for name, head in heads.items():
        version = head["served_from"]
        if version is None:
            where = "not served"
        elif head["from"] == properties.FROM_SERVED:
            where = f"version {version} (kept)"
        else:
            where = f"version {version} (this run)"
        lines.append(f"  {name.ljust(width)}  {where}: {head['reason']}")
    return lines


def _slice_lines(summary: dict[str, Any]) -> list[str]:
    """Per head with slices: its worst failing slice, or how many were judged."""
    heads = {n: h["slices"] for n, h in sorted(summary["heads"].items()) if h.get("slices")}
    if not heads:
        return []
    width = max(len(n) for n in heads)
    lines = [f"slices ({', '.join(next(iter(heads.values())))}):"]
    for name, slicings in heads.items():
        failing = [
            s for kept in slicings.values() for s in kept["slices"] if s["verdict"] == "fail"
        ]
        judged = sum(kept["judged"] for kept in slicings.values())
        if failing:
            count = sum(kept["failing"] for kept in slicings.values())
            text = f"{count} of {judged} judged fail; worst: {failing[0]['reasons'][0]}"
        elif judged:
            text = f"no failing slice ({judged} judged)"
        else:
            text = "reported, not judged (no per-slice bounds, or slices too small)"
        lines.append(f"  {name.ljust(width)}  {text}")
    return lines


def _training_lines(summary: dict[str, Any]) -> list[str]:
    """Per head: where early stopping stopped it, or that it is frozen."""
    training = summary.get("training") or {}
    stopping, frozen = training.get("early_stopping") or {}, training.get("frozen") or []
    if not stopping and not frozen:
        return []
    names = sorted(set(stopping) | set(frozen))
    width = max(len(n) for n in names)
    lines = ["training:"]
    for name in names:
        if name in frozen:
            lines.append(f"  {name.ljust(width)}  frozen: served from the served model")
            continue
        head = stopping[name]
        end = (
            f"stopped at step {head['stopped_at']:,}"
            if head["stopped_at"] is not None
            else f"ran to step {training['steps']:,}"
        )
        monitor, value = best_validation(head)
        best = (
            f"best step {head['best_step']:,} (validation {monitor} {value:.4g})"
            if value is not None
            else "no check"
        )
        lines.append(f"  {name.ljust(width)}  {end}, {best}")
    return lines


def best_validation(stopping: dict[str, Any]) -> tuple[str, float | None]:
    """What a head's early stopping monitored (`loss`, `auc`, ...) and its
    best value; runs from before `monitor` existed stopped on the loss."""
    if "monitor" not in stopping:
        return "loss", stopping.get("best_validation_loss")
    return stopping["monitor"], stopping["best_validation"]


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a plain-text table, one row per head and metric."""
    rows = [("head", "metric", "value", "threshold", "verdict")]
    for head, info in sorted(summary["heads"].items()):
        for metric, value in sorted(info["metrics"].items()):
            bound = info["thresholds"].get(metric, {})
            text = threshold_text(bound)
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
    lines += _slice_lines(summary)
    lines.append(f"blessed: {'yes' if summary['blessed'] else 'no'}")
    lines += _release_lines(summary)
    lines.append(f"pushed model: {summary['pushed_model'] or 'none'}{_cached_note(summary)}")
    served = summary.get("served_model")
    lines.append(
        f"served now: {served['path']} (version {served['version']})"
        if served
        else "served now: none"
    )
    if summary.get("push_refused"):
        lines.append(summary["push_refused"])
    predictions = summary.get("predictions")
    if predictions:
        if predictions.get("note"):
            lines.append(f"predictions: {predictions['note']}")
        else:
            rejects = predictions["rejects"]
            lines.append(
                f"predictions: {predictions['rows']:,} rows in {predictions['file']} "
                f"(scored with {predictions['scored_with']}"
                + (
                    f"; {rejects:,} rejected, see {predictions['rejects_file']})"
                    if rejects
                    else ")"
                )
            )
    for version, problem in sorted((summary.get("served_skipped") or {}).items()):
        lines.append(
            f"served version {version} does not load ({problem}); warm start and comparison "
            "used the newest version that does"
        )
    lines += _training_lines(summary)
    if summary.get("warm_start"):
        warm = summary["warm_start"]
        lines.append(f"warm start: {', '.join(warm['warm']) or 'no head'}")
        lines += [f"  {group} started fresh: {why}" for group, why in warm["fresh"].items()]
    return "\n".join(lines)
