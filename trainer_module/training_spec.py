"""The training part of the model spec: optimizers, early stopping, the
shared backbone and its balancing, and the `training` section (no TensorFlow)."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from pydantic import Field, model_validator

from trainer_module.strict import PositiveInt, Strict


class Optimizer(Strict):
    name: Literal["adam", "sgd", "adagrad", "rmsprop"] = "adam"
    learning_rate: float = Field(0.001, gt=0, le=10)


# The splits the trainer reads: it trains on TRAIN_SPLIT, and early stopping
# measures each head on VALIDATION_SPLIT, which ExampleGen carves out of the
# training rows (pipeline/pipeline.py), so it is read whole and never parsed
# or filtered per training pass.
TRAIN_SPLIT, VALIDATION_SPLIT, EVAL_SPLIT = "train", "validation", "eval"

# The validation slice early stopping measures must hold at least this many
# rows (a loss on fewer moves with every few examples, and so would the stop).
MIN_VALIDATION_ROWS = 100


class EarlyStopping(Strict):
    """Per-head early stopping (`training.early_stopping`).

    Every `every` steps each training head's loss is measured on the
    validation slice: `validation_fraction` of the training split's rows,
    chosen by a second hash of each row's cells when ExampleGen splits the
    data (VALIDATION_SPLIT: the same rows on every run over the same data;
    never the eval split, which judges the model and keeps exactly its rows
    with or without early stopping). A head whose loss
    has not improved by more than `min_delta` for `patience` checks stops:
    its best weights come back and its optimizer updates it no more, while
    the other heads go on. `training.steps` is then the maximum. At most
    `validation_rows` rows of the slice are held in memory and measured.

    monitor: what "improved" means: `loss` (the head's training loss), or
    one of its metrics that the trainer computes (auc, binary_accuracy,
    mean_absolute_error, mean_squared_error, root_mean_squared_error,
    sparse_categorical_accuracy), higher or lower being better as the
    metric says. A head judged by a metric its loss does not follow (MAE
    under an MSE loss, an AUC) stops best on that metric.
    """

    every: PositiveInt = 50
    patience: PositiveInt = 4
    min_delta: float = Field(0.0, ge=0)
    monitor: str = "loss"
    validation_fraction: float = Field(0.1, gt=0, le=0.5)
    validation_rows: int = Field(4096, ge=MIN_VALIDATION_ROWS)

    def rows_needed(self) -> int:
        """Training-split rows for a validation slice of MIN_VALIDATION_ROWS."""
        return math.ceil(MIN_VALIDATION_ROWS / self.validation_fraction)


class HeadStopping(Strict):
    """A head's own `patience`, `min_delta` or `monitor`
    (`heads[].early_stopping`); `early_stopping: false` instead: the head
    never stops early."""

    patience: PositiveInt | None = None
    min_delta: float | None = Field(None, ge=0)
    monitor: str | None = None


@dataclasses.dataclass(frozen=True)
class StoppingRule:
    """When one head stops: `patience` checks without an improvement of more
    than `min_delta` in `monitor` (higher better when `higher_is_better`)."""

    patience: int
    min_delta: float
    monitor: str = "loss"
    higher_is_better: bool = False


# The loss balancings of a shared backbone (trainer_module/balancing.py).
Balancing = Literal["none", "uncertainty", "pcgrad", "gradnorm"]


class Backbone(Strict):
    """A trainable block shared by every head, and who updates it.

    update=per_head: every head's optimizer applies its own loss gradient to
    the backbone. update=backbone_optimizer: one more optimizer applies the
    gradient of the weighted sum of the head losses. skip: the towers read
    the encoded features beside the backbone's output (trainer_module/model.py).
    """

    layers: list[PositiveInt] = Field(min_length=1)
    skip: bool = False
    update: Literal["per_head", "backbone_optimizer"] = "per_head"
    optimizer: Optimizer | None = None
    # How the heads' gradients on the backbone become one update
    # (trainer_module/balancing.py): with update backbone_optimizer, or joint mode.
    balancing: Balancing = "none"

    @model_validator(mode="after")
    def _check(self) -> Backbone:
        if self.update == "backbone_optimizer" and self.optimizer is None:
            object.__setattr__(self, "optimizer", Optimizer())
        if self.update == "per_head" and self.optimizer is not None:
            raise ValueError("'optimizer' is only used with update: backbone_optimizer")
        return self


class Training(Strict):
    mode: Literal["disjoint", "joint"] = "disjoint"
    joint_optimizer: Optimizer = Optimizer()
    backbone: Backbone | None = None
    steps: PositiveInt = 1000
    batch_size: PositiveInt = 256
    eval_batches: PositiveInt = 20
    log_every: PositiveInt = 50
    seed: int = 42
    early_stopping: EarlyStopping | None = None
    # The tf.distribute strategy of the training loop (trainer_module/distribute.py).
    distribute: Literal["none", "mirrored", "multi_worker"] = "none"

    @model_validator(mode="before")
    @classmethod
    def _balancing_is_the_backbones(cls, data):
        if isinstance(data, dict) and "balancing" in data:
            where = "" if data.get("backbone") else " (this config has no backbone)"
            raise ValueError(
                "balancing combines the heads' gradients on a shared backbone: give it as "
                f"training.backbone.balancing, beside backbone.layers{where}"
            )
        return data

    @model_validator(mode="after")
    def _balancing_needs_one_backbone_update(self) -> Training:
        backbone = self.backbone
        if (
            backbone is not None
            and backbone.balancing != "none"
            and self.mode == "disjoint"
            and backbone.update == "per_head"
        ):
            raise ValueError(
                f"backbone.balancing {backbone.balancing!r} combines the heads' gradients into "
                "one backbone update: set backbone.update: backbone_optimizer (with per_head, "
                "each head's optimizer applies its own gradient to the backbone)"
            )
        if backbone is not None and backbone.balancing == "gradnorm" and self.distribute != "none":
            raise ValueError(
                f"backbone.balancing 'gradnorm' updates its weights in the training step, "
                f"which does not run under tf.distribute here (distribute is "
                f"{self.distribute!r}): use pcgrad or uncertainty, or distribute: none"
            )
        return self
