"""Plots of the latest benchmark results (bench/results/*.json) as PNGs.

python -m bench.plot      # writes docs/img/bench-<name>.png
"""

from __future__ import annotations

import json
import os
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.common import RESULTS_DIR

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "img")


def _load(name: str) -> dict | None:
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _bars(ax, labels, values, title, unit, errors=None):
    ax.bar(
        labels,
        values,
        yerr=errors,
        color=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"][: len(labels)],
    )
    ax.set_title(title)
    ax.set_ylabel(unit)
    for i, value in enumerate(values):
        ax.annotate(f"{value:.3g}", (i, value), ha="center", va="bottom", fontsize=8)


def plot_pipelines(data: dict) -> plt.Figure:
    figures = data["figures"]
    names = {"ours": "multi-head", "a": "(a) K pipelines", "b": "(b) K branches"}
    fig, ax = plt.subplots(figsize=(6, 3.5))
    _bars(
        ax,
        [names[k] for k in figures],
        [v["wall_s"] for v in figures.values()],
        "Pipeline wall time",
        "seconds",
    )
    return fig


def plot_serving(data: dict) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, (batch, values) in zip(axes, sorted(data["figures"].items()), strict=True):
        p50 = values["p50_ms"]
        _bars(ax, list(p50), list(p50.values()), f"p50 latency, {batch.replace('_', ' ')}", "ms")
    fig.tight_layout()
    return fig


def plot_quality(data: dict) -> plt.Figure:
    scores = data["scores"]
    heads = list(next(iter(scores.values())))
    fig, axes = plt.subplots(1, len(heads), figsize=(4 * len(heads), 3.5))
    for ax, head in zip(axes, heads, strict=True):
        variants = list(scores)
        means = [statistics.mean(scores[v][head]) for v in variants]
        spread = [statistics.pstdev(scores[v][head]) for v in variants]
        metric = "AUC" if head == "big_tipper" else "MAE"
        _bars(
            ax,
            [v.replace("_", "\n") for v in variants],
            means,
            f"{head} ({metric})",
            metric,
            spread,
        )
    fig.tight_layout()
    return fig


def plot_training(data: dict) -> plt.Figure:
    per_example = data["figures"]["us_per_example"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    _bars(ax, list(per_example), list(per_example.values()), "Training time per example", "µs")
    return fig


def plot_scale(data: dict) -> plt.Figure:
    figures = {int(k): v for k, v in data["figures"].items()}
    rows = sorted(figures)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].plot(rows, [figures[r]["wall_s"] for r in rows], marker="o", label="measured")
    first = figures[rows[0]]["wall_s"]
    axes[0].plot(rows, [first * r / rows[0] for r in rows], ls=":", color="grey", label="∝ rows")
    axes[0].legend()
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_title("Pipeline wall time")
    axes[0].set_xlabel("rows")
    axes[0].set_ylabel("seconds")
    peak = [max(figures[r]["peak_rss_mb"], figures[r]["tree_peak_rss_mb"]) for r in rows]
    axes[1].plot(rows, peak, marker="o")
    axes[1].set_xscale("log")
    axes[1].set_ylim(0, max(peak) * 1.2)
    axes[1].set_title("Peak resident memory")
    axes[1].set_xlabel("rows")
    axes[1].set_ylabel("MB")
    fig.tight_layout()
    return fig


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    for name, plot in (
        ("pipelines", plot_pipelines),
        ("serving", plot_serving),
        ("quality", plot_quality),
        ("training", plot_training),
        ("scale", plot_scale),
    ):
        data = _load(name)
        if data is None:
            print(f"no results for {name}; run `make bench-{name}` first")
            continue
        figure = plot(data)
        path = os.path.join(OUT, f"bench-{name}.png")
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
