"""The model spec: features, derived columns, heads and training (no TensorFlow).

What the trainer module sees, as tfx's user module sees `FnArgs`: plain,
validated data with no knowledge of the pipeline around it. The pipeline
config (pipeline/config.py) extends it with gates, baseline, push and
retraining settings; each component receives only its piece as JSON:

- `TransformSpec`: features, derived columns, and each head's label fields
  (what `preprocessing_fn` reads), so a change of training or thresholds
  does not invalidate the Transform's cache.
- `ModelSpec`: the above plus each head's loss, optimizer, tower and the
  training settings (what the trainer reads; the `training` section's
  classes are in training_spec.py, the JSON base in strict.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from trainer_module.inputs_spec import DerivedColumn, Feature
from trainer_module.signatures import RESERVED_SIGNATURES
from trainer_module.strict import PositiveInt, Strict
from trainer_module.tasks import TASKS, Task

# The training section (re-exported: trainer_module.spec is where specs are read from).
from trainer_module.training_spec import (  # noqa: F401
    MIN_VALIDATION_ROWS,
    Backbone,
    EarlyStopping,
    HeadStopping,
    Optimizer,
    StoppingRule,
    Training,
)

NAME_RE = r"^[a-z][a-z0-9_]*$"


def _check_monitor(head: HeadSpec, monitor: str) -> None:
    metric = head.kind.metrics.get(monitor)
    if metric is None or metric.during_training is None:
        measurable = sorted(n for n, m in head.kind.metrics.items() if m.during_training)
        raise ValueError(
            f"heads[{head.name}]: early stopping monitor {monitor!r} is not measured during "
            f"training for a {head.task} head; use 'loss' or one of {measurable}"
        )


class TransformedKeys:
    """The names of a head's columns in the transformed data (a `name` field's)."""

    name: str

    @property
    def label_key(self) -> str:
        """The transformed label column."""
        return f"{self.name}_label"

    @property
    def weight_key(self) -> str:
        """The transformed 0/1 column saying the label is present."""
        return f"{self.name}_weight"


class LabelSpec(Strict, TransformedKeys):
    """A head as the transform sees it: its name, label column and task."""

    name: str = Field(pattern=NAME_RE)
    label: str
    task: str
    positive_class: str | None = None
    classes: list[str] | None = None
    num_classes: int | None = Field(None, ge=2)

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        if task not in TASKS:
            choices = [repr(name) for name in TASKS]
            raise ValueError(f"Input should be {', '.join(choices[:-1])} or {choices[-1]}")
        return task

    @model_validator(mode="after")
    def _check_task_fields(self) -> LabelSpec:
        self.kind.check(self)
        return self

    @property
    def kind(self) -> Task:
        """The task object: loss, label encoding and check, outputs, metrics."""
        return TASKS[self.task]

    @property
    def output_size(self) -> int:
        return self.kind.output_size(self)


class HeadSpec(LabelSpec):
    """A head as the trainer sees it: label, loss, optimizer and tower.

    freeze: the head is not trained: the new model serves the served
    model's version of it (its transform and tower, bit for bit), as a
    per-head release keeps a failing head.
    """

    loss: str | None = None
    # huber only: where the loss turns linear, in standard deviations of the
    # head's training labels (default 1: one std, whatever the label's units).
    huber_delta: float | None = Field(None, gt=0)
    optimizer: Optimizer = Optimizer()
    tower: list[PositiveInt] = [64, 32]
    label_may_be_missing: bool = False
    # Multiplies this head's loss (its own gradients in disjoint mode, its
    # share of the summed loss in joint mode or for a backbone optimizer).
    weight: float = Field(1.0, gt=0)
    early_stopping: HeadStopping | Literal[False] | None = None
    freeze: bool = False

    @model_validator(mode="after")
    def _default_loss(self) -> HeadSpec:
        allowed = self.kind.losses
        if self.loss is None:
            object.__setattr__(self, "loss", allowed[0])
        elif self.loss not in allowed:
            raise ValueError(
                f"loss {self.loss!r} does not fit task {self.task!r}; "
                f"expected one of {list(allowed)}"
            )
        if self.loss == "huber" and self.huber_delta is None:
            object.__setattr__(self, "huber_delta", 1.0)
        elif self.loss != "huber" and self.huber_delta is not None:
            raise ValueError(f"'huber_delta' is for loss: huber (this head's loss is {self.loss})")
        return self


def _repeated(names: list[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


class TransformSpec(Strict):
    """What `preprocessing_fn` reads: features, derived columns, labels."""

    features: list[Feature] = Field(min_length=1)
    derived: list[DerivedColumn] = []
    heads: list[LabelSpec] = Field(min_length=1)

    @field_validator("heads")
    @classmethod
    def _unique_heads(cls, heads: list[LabelSpec]) -> list[LabelSpec]:
        dupes = _repeated([h.name for h in heads])
        if dupes:
            raise ValueError(f"head names must be unique; repeated: {dupes}")
        for head in heads:
            if head.name in RESERVED_SIGNATURES:
                raise ValueError(
                    f"head name {head.name!r} is reserved for a signature; "
                    f"pick another (reserved: {sorted(RESERVED_SIGNATURES)})"
                )
        return heads

    @model_validator(mode="after")
    def _cross_checks(self) -> TransformSpec:
        for kind, names in (
            ("feature", [f.name for f in self.features]),
            ("derived", [d.name for d in self.derived]),
        ):
            dupes = _repeated(names)
            if dupes:
                raise ValueError(f"{kind} names must be unique; repeated: {dupes}")
        # A feature named like a derived column is computed from that column.
        derived = {d.name: d for d in self.derived}
        labels = {h.label for h in self.heads}
        for feature in self.features:
            reads = derived[feature.name].inputs if feature.name in derived else []
            leaked = labels & ({feature.name} | set(reads))
            if leaked:
                raise ValueError(
                    f"feature {feature.name!r} reads the label column(s) "
                    f"{sorted(leaked)}: a head's label may not be a model input"
                )
        names = {f.name for f in self.features}
        for head in self.heads:
            for key in (head.label_key, head.weight_key):
                if key in names:
                    raise ValueError(
                        f"feature {key!r} collides with head {head.name!r}'s "
                        "label columns; rename the feature"
                    )
        return self

    def head(self, name: str) -> LabelSpec:
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(name)

    def _raw_inputs(self, names: list[str]) -> set[str]:
        derived = {d.name: d for d in self.derived}
        wanted: set[str] = set()
        for name in names:
            wanted.update(derived[name].inputs if name in derived else [name])
        return wanted

    def raw_columns(self) -> set[str]:
        """Raw CSV columns the model reads (features, labels, derived inputs)."""
        return self._raw_inputs([f.name for f in self.features] + [h.label for h in self.heads])

    def serving_columns(self) -> set[str]:
        """Raw columns a serving client sends: those the features read."""
        return self._raw_inputs([f.name for f in self.features])

    def float_columns(self) -> set[str]:
        """Raw columns read as numbers, which ExampleGen writes as floats even
        when a span holds only integers: a column that is INT in one span and
        FLOAT in the next would change the parse spec of every model trained
        on it (and break the served model's parse of the next span).
        Categorical features and multiclass labels keep their inferred type
        (a hashed 9 is not a hashed 9.0)."""
        names = [f.name for f in self.features if f.type != "categorical"]
        names += [h.label for h in self.heads if h.task == "regression"]
        names += [h.label for h in self.heads if h.task == "binary" and h.positive_class is None]
        names += [i for d in self.derived for i in d.inputs]
        keep = {f.name for f in self.features if f.type == "categorical"}
        keep |= {h.label for h in self.heads if h.task == "multiclass"}
        derived = {d.name for d in self.derived}
        return {n for n in names if n not in derived} - keep

    def transform_spec(self) -> TransformSpec:
        """Only the transform's part (each head's label fields)."""
        fields = set(LabelSpec.model_fields)
        return TransformSpec.model_validate(
            {
                "features": [f.model_dump() for f in self.features],
                "derived": [d.model_dump() for d in self.derived],
                "heads": [h.model_dump(include=fields) for h in self.heads],
            }
        )


class ModelSpec(TransformSpec):
    """What the trainer reads: the transform's part, heads' training, training.

    missing_values: cell values read as missing in every column, besides the
    empty cell (TFX's only one), e.g. ["NA", "N/A", "null", "?"]. Honoured
    wherever a CSV is read: ExampleGen and the preflight; the model keeps
    them (assets.extra/inputs.json) for batch scoring.
    """

    heads: list[HeadSpec] = Field(min_length=1)
    training: Training = Training()
    missing_values: list[str] = []

    @field_validator("missing_values")
    @classmethod
    def _tokens(cls, tokens: list[str]) -> list[str]:
        for token in tokens:
            if token == "" or token != token.strip():
                raise ValueError(
                    f"missing value token {token!r}: give the cell's text without "
                    "surrounding spaces (the empty cell is always missing)"
                )
        repeated = sorted({t for t in tokens if tokens.count(t) > 1})
        if repeated:
            raise ValueError(f"missing_values repeats {repeated}")
        return tokens

    @model_validator(mode="after")
    def _stopping_and_freezing(self) -> ModelSpec:
        for head in self.heads:
            if head.early_stopping and self.training.early_stopping is None:
                raise ValueError(
                    f"heads[{head.name}].early_stopping needs training.early_stopping "
                    "(every, patience, validation_fraction) to be set"
                )
        if all(head.freeze for head in self.heads):
            raise ValueError("every head is frozen: there is nothing to train; unfreeze one")
        stopping = self.training.early_stopping
        for head in self.heads:
            # Checked for a frozen head too (not trained now, its settings
            # are kept for when it is unfrozen).
            own = head.early_stopping or HeadStopping()
            monitor = own.monitor or (stopping.monitor if stopping else "loss")
            if stopping is not None and head.early_stopping is not False and monitor != "loss":
                _check_monitor(head, monitor)
        return self

    def stopping_rule(self, name: str) -> StoppingRule | None:
        """How a trained head that may stop early stops, or None."""
        stopping = self.training.early_stopping
        head = next(h for h in self.heads if h.name == name)
        if stopping is None or head.freeze or head.early_stopping is False:
            return None
        own = head.early_stopping or HeadStopping()
        monitor = own.monitor if own.monitor is not None else stopping.monitor
        metric = head.kind.metrics.get(monitor)
        return StoppingRule(
            patience=own.patience if own.patience is not None else stopping.patience,
            min_delta=own.min_delta if own.min_delta is not None else stopping.min_delta,
            monitor=monitor,
            higher_is_better=bool(metric and metric.higher_is_better),
        )

    @property
    def frozen(self) -> list[str]:
        """Heads served from the served model, not trained."""
        return [h.name for h in self.heads if h.freeze]

    def model_spec(self) -> ModelSpec:
        """Only the trainer's part (for a subclass that adds more)."""
        fields = set(HeadSpec.model_fields)
        return ModelSpec.model_validate(
            {
                **self.transform_spec().model_dump(exclude={"heads"}),
                "heads": [h.model_dump(include=fields) for h in self.heads],
                "training": self.training.model_dump(),
                "missing_values": list(self.missing_values),
            }
        )
