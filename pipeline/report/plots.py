"""The report's plots, one PNG each, drawn with matplotlib and scikit-learn's
displays: the plots that fit a head's task, and its loss curves.

A task kind without an entry in `TASK_PLOTS` gets its metrics and curves in
the report, no task plots.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")  # files only: no display, whatever the machine has

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.calibration import CalibrationDisplay  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
)

from pipeline.report.scores import HeadScores  # noqa: E402

SIZE = (4.4, 3.6)  # inches, at DPI: 440 x 360 pixels
DPI = 100
SCATTER_POINTS = 5000  # at most, drawn from the rows at random (fixed seed)


@dataclasses.dataclass(frozen=True)
class Plot:
    """A written plot: its file (beside the page), title and what it shows."""

    file: str
    title: str
    caption: str


def _figure() -> tuple[Figure, plt.Axes]:
    figure, axes = plt.subplots(figsize=SIZE, dpi=DPI, layout="constrained")
    return figure, axes


def _save(figure: Figure, folder: str, head: str, name: str, title: str, caption: str) -> Plot:
    file = f"{head}-{name}.png"
    figure.savefig(os.path.join(folder, file))
    plt.close(figure)
    return Plot(file, title, caption)


def _sample(scores: HeadScores) -> tuple[np.ndarray, np.ndarray]:
    if scores.rows <= SCATTER_POINTS:
        return scores.labels, scores.predictions
    chosen = np.random.default_rng(0).choice(scores.rows, SCATTER_POINTS, replace=False)
    return scores.labels[chosen], scores.predictions[chosen]


def binary(head: str, scores: HeadScores, classes: list[str], folder: str) -> list[Plot]:
    labels, probability = scores.labels.astype(int), scores.predictions
    plots = []
    figure, axes = _figure()
    RocCurveDisplay.from_predictions(labels, probability, ax=axes, name=head)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    axes.legend(loc="lower right")
    axes.set_title(f"{head}: ROC")
    plots.append(
        _save(figure, folder, head, "roc", "ROC", "true vs false positive rate over thresholds")
    )
    figure, axes = _figure()
    PrecisionRecallDisplay.from_predictions(labels, probability, ax=axes, name=head)
    axes.axhline(labels.mean(), linestyle=":", color="grey", label="base rate")
    axes.legend(loc="lower left")
    axes.set_title(f"{head}: precision-recall")
    plots.append(
        _save(
            figure,
            folder,
            head,
            "precision-recall",
            "Precision-recall",
            "precision vs recall over thresholds; AP is the average precision",
        )
    )
    figure, axes = _figure()
    CalibrationDisplay.from_predictions(
        labels, probability, n_bins=10, strategy="quantile", ax=axes, name=head
    )
    axes.set_title(f"{head}: calibration")
    plots.append(
        _save(
            figure,
            folder,
            head,
            "calibration",
            "Calibration",
            "observed rate of positives vs mean predicted probability, in 10 equal-count bins",
        )
    )
    return plots


def regression(head: str, scores: HeadScores, classes: list[str], folder: str) -> list[Plot]:
    actual, predicted = _sample(scores)
    shown = f"{len(actual):,} of {scores.rows:,} rows" if len(actual) < scores.rows else "all rows"
    plots = []
    figure, axes = _figure()
    axes.scatter(actual, predicted, s=4, alpha=0.3, linewidths=0)
    low, high = np.percentile(np.concatenate([actual, predicted]), [0.5, 99.5])
    axes.plot([low, high], [low, high], linestyle=":", color="grey", label="predicted = actual")
    axes.set(xlim=(low, high), ylim=(low, high), xlabel="actual", ylabel="predicted")
    axes.legend(loc="upper left")
    axes.set_title(f"{head}: predicted vs actual")
    plots.append(
        _save(
            figure,
            folder,
            head,
            "predicted-vs-actual",
            "Predicted vs actual",
            f"{shown}; axes cut at the 0.5th and 99.5th percentiles",
        )
    )
    figure, (left, right) = plt.subplots(1, 2, figsize=(SIZE[0] * 1.6, SIZE[1]), dpi=DPI)
    figure.set_layout_engine("constrained")
    residual = predicted - actual
    left.scatter(predicted, residual, s=4, alpha=0.3, linewidths=0)
    left.axhline(0, linestyle=":", color="grey")
    left.set(xlabel="predicted", ylabel="predicted - actual")
    cut = np.percentile(np.abs(residual), 99.5)
    right.hist(np.clip(residual, -cut, cut), bins=50)
    right.set(xlabel="predicted - actual", ylabel="rows")
    figure.suptitle(f"{head}: residuals")
    plots.append(
        _save(
            figure,
            folder,
            head,
            "residuals",
            "Residuals",
            f"{shown}; the histogram clips residuals at their 99.5th percentile",
        )
    )
    return plots


def multiclass(head: str, scores: HeadScores, classes: list[str], folder: str) -> list[Plot]:
    count = scores.predictions.shape[1]
    names = classes or [str(i) for i in range(count)]
    figure, axes = plt.subplots(
        figsize=(max(SIZE[0], 0.6 * count + 2), max(SIZE[1], 0.5 * count + 1.6)), dpi=DPI
    )
    figure.set_layout_engine("constrained")
    ConfusionMatrixDisplay.from_predictions(
        scores.labels.astype(int),
        scores.predictions.argmax(axis=1),
        labels=list(range(count)),
        display_labels=names,
        normalize="true",
        values_format=".2f",
        ax=axes,
        colorbar=False,
    )
    axes.set_title(f"{head}: confusion matrix")
    return [
        _save(
            figure,
            folder,
            head,
            "confusion-matrix",
            "Confusion matrix",
            "each true class's rows by predicted class (rows sum to 1)",
        )
    ]


TaskPlots = Callable[[str, HeadScores, list[str], str], list[Plot]]
TASK_PLOTS: dict[str, TaskPlots] = {
    "binary": binary,
    "regression": regression,
    "multiclass": multiclass,
}


def task_plots(
    head: str, task: str, scores: HeadScores, classes: list[str], folder: str
) -> list[Plot]:
    """The plots of the head's task (none for no labelled rows)."""
    draw = TASK_PLOTS.get(task)
    if draw is None or scores.rows == 0:
        return []
    return draw(head, scores, classes, folder)


def loss_curves(
    head: str, curves: dict[str, list[list[float]]], folder: str, validation: str
) -> Plot | None:
    """Train (mean since the previous point) and validation loss by step
    (`validation`: what it was measured on, in words)."""
    if not any(curves.values()):
        return None
    figure, axes = _figure()
    for name, points in curves.items():
        if points:
            steps, losses = zip(*points, strict=True)
            axes.plot(steps, losses, marker="o", markersize=3, label=name)
    axes.set(xlabel="step", ylabel="loss")
    axes.legend()
    axes.set_title(f"{head}: loss")
    return _save(
        figure,
        folder,
        head,
        "loss",
        "Loss curves",
        f"train: mean loss since the previous point; validation: on {validation}",
    )
