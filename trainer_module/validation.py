"""What each head's validation loss is measured on, and the loss curves.

With early stopping the validation slice is the examples' validation split,
which ExampleGen carved out of the training rows (training_spec.
VALIDATION_SPLIT), never the eval split the evaluator judges. Without, the
curve's validation points come from the eval split's first batches: shown,
never acted on.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os

import tensorflow as tf

from trainer_module import data
from trainer_module.spec import MIN_VALIDATION_ROWS, ModelSpec
from trainer_module.training import Batch
from trainer_module.training_spec import EVAL_SPLIT, VALIDATION_SPLIT

# Rows per validation batch: few large forward passes at every check.
BATCH = 1024
# Without early stopping: the eval split's first rows, for the curve only.
CURVE_ROWS = 1024


class ValidationTooSmall(ValueError):
    """The training split is too small to carve a validation slice from."""


@dataclasses.dataclass
class Validation:
    batches: list[Batch]
    rows: int
    source: str  # in words, for the report

    def as_dict(self) -> dict:
        return {"rows": self.rows, "source": self.source}


def _rows(batch: Batch) -> int:
    return int(tf.shape(next(iter(batch[0].values())))[0])


def _take(dataset: tf.data.Dataset, rows: int) -> tuple[list[Batch], int]:
    batches = list(itertools.islice(dataset, math.ceil(rows / BATCH)))
    return batches, sum(_rows(b) for b in batches)


def validation_set(spec: ModelSpec, decode: data.Decode, examples_uri: str) -> Validation:
    """The batches every head's validation loss is measured on.

    Raises:
      ValidationTooSmall: early stopping's split is missing or has fewer
        than MIN_VALIDATION_ROWS rows, saying what to do.
    """
    stopping = spec.training.early_stopping
    if stopping is None:
        eval_files = data.split_files(examples_uri, EVAL_SPLIT)
        dataset = data.make_dataset(eval_files, decode, spec, BATCH, False, False)
        batches, rows = _take(dataset, CURVE_ROWS)
        return Validation(batches, rows, f"the eval split's first {rows:,} rows")
    try:
        files = data.split_files(examples_uri, VALIDATION_SPLIT)
    except FileNotFoundError as error:
        raise ValidationTooSmall(
            f"early stopping: the examples have no {VALIDATION_SPLIT!r} split ({error}); "
            "this project's pipeline has ExampleGen carve it out of the training rows "
            "when training.early_stopping is set: rerun the pipeline from ExampleGen"
        ) from error
    dataset = data.make_dataset(files, decode, spec, BATCH, False, False)
    batches, rows = _take(dataset, stopping.validation_rows)
    if rows < MIN_VALIDATION_ROWS:
        raise ValidationTooSmall(
            f"early stopping: the validation slice (validation_fraction "
            f"{stopping.validation_fraction:g} of the training split) has {rows} rows; it needs "
            f"at least {MIN_VALIDATION_ROWS}, so the training split needs about "
            f"{stopping.rows_needed():,} rows: add data, raise validation_fraction, or "
            "remove training.early_stopping"
        )
    source = (
        f"{rows:,} rows of the {VALIDATION_SPLIT} split (validation_fraction "
        f"{stopping.validation_fraction:g} of the training rows), left out of training"
    )
    return Validation(batches, rows, source)


class Curves:
    """Each head's train and validation loss by step, kept for the report
    and written for TensorBoard (`loss/train`, `loss/validation` in the
    head's folder of the trainer's model_run)."""

    def __init__(self, heads: list[str], folder: str):
        self.points = {name: {"train": [], "validation": []} for name in heads}
        self._writers = {
            name: tf.summary.create_file_writer(os.path.join(folder, name)) for name in heads
        }

    def add(self, kind: str, step: int, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if name not in self.points:
                continue
            self.points[name][kind].append([step, value])
            with self._writers[name].as_default(step=step):
                tf.summary.scalar(f"loss/{kind}", value)

    def add_eval(self, step: int, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if name in self._writers:
                with self._writers[name].as_default(step=step):
                    tf.summary.scalar("loss/eval", value)

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()
