"""The pipeline configuration: heads, features and training, validated at load.

A config is YAML. Every field is checked when the file is loaded, so a typo
fails before any component runs, with the field, the value and what was
expected. The validated object is what the rest of the project passes around;
components receive it serialized as JSON (see `to_json` / `from_json`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "ConfigError",
    "DerivedColumn",
    "Feature",
    "Head",
    "PipelineConfig",
    "load_config",
    "resolve_function",
    "DEFAULT_CONFIG",
    "RETRAIN_CONFIG",
    "LOSSES",
    "METRICS",
]

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
DEFAULT_CONFIG = os.path.join(CONFIG_DIR, "taxi.yaml")
RETRAIN_CONFIG = os.path.join(CONFIG_DIR, "taxi_retrain.yaml")

Task = Literal["binary", "multiclass", "regression"]

# Losses a task accepts; the first one is the default.
LOSSES: dict[str, tuple[str, ...]] = {
    "binary": ("binary_crossentropy",),
    "multiclass": ("sparse_categorical_crossentropy",),
    "regression": ("mean_squared_error", "mean_absolute_error", "huber"),
}

# Metric name in the config (and in TFMA's results) -> TFMA metric class.
METRICS: dict[str, dict[str, str]] = {
    "binary": {
        "auc": "AUC",
        "auc_precision_recall": "AUCPrecisionRecall",
        "binary_accuracy": "BinaryAccuracy",
        "precision": "Precision",
        "recall": "Recall",
        "binary_crossentropy": "BinaryCrossentropy",
        "calibration": "Calibration",
        "example_count": "ExampleCount",
    },
    "multiclass": {
        "sparse_categorical_accuracy": "SparseCategoricalAccuracy",
        "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
        "example_count": "ExampleCount",
    },
    "regression": {
        "mean_squared_error": "MeanSquaredError",
        "mean_absolute_error": "MeanAbsoluteError",
        "root_mean_squared_error": "RootMeanSquaredError",
        "mean_absolute_percentage_error": "MeanAbsolutePercentageError",
        "example_count": "ExampleCount",
    },
}
# Metrics where higher is better; every other metric with a direction is an
# error or a loss (lower is better). Change thresholds need a direction.
HIGHER_IS_BETTER = {
    "auc",
    "auc_precision_recall",
    "binary_accuracy",
    "precision",
    "recall",
    "sparse_categorical_accuracy",
}
NO_DIRECTION = {"calibration", "example_count"}
DEFAULT_METRICS = {
    "binary": ["auc", "binary_accuracy"],
    "multiclass": ["sparse_categorical_accuracy"],
    "regression": ["mean_squared_error", "mean_absolute_error"],
}

NAME_RE = r"^[a-z][a-z0-9_]*$"
RESERVED_SIGNATURES = {"serving_default", "transform_features"}
PositiveInt = Annotated[int, Field(gt=0)]


class ConfigError(ValueError):
    """A configuration that cannot be used, with every problem found named."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Optimizer(_Strict):
    name: Literal["adam", "sgd", "adagrad", "rmsprop"] = "adam"
    learning_rate: float = Field(0.001, gt=0, le=10)


class Threshold(_Strict):
    """Bounds on one metric of a head.

    lower / upper: absolute bounds on the candidate's value.
    max_worse: how much worse than the served model the candidate may be, in
    the metric's units (an AUC may drop by 0.01: `max_worse: 0.01`).
    max_worse_relative: the same as a fraction of the served value (an MSE
    may rise by 5%: `max_worse_relative: 0.05`). "Worse" follows the metric:
    lower for AUC, accuracy, precision, recall; higher for errors and losses.
    """

    lower: float | None = None
    upper: float | None = None
    max_worse: float | None = Field(None, ge=0)
    max_worse_relative: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if all(
            v is None for v in (self.lower, self.upper, self.max_worse, self.max_worse_relative)
        ):
            raise ValueError("give 'lower', 'upper', 'max_worse' or 'max_worse_relative'")
        if self.lower is not None and self.upper is not None:
            if self.lower > self.upper:
                raise ValueError(f"lower {self.lower} > upper {self.upper}")
        return self

    @property
    def has_change(self) -> bool:
        return self.max_worse is not None or self.max_worse_relative is not None


class Feature(_Strict):
    """One model input computed by the shared transform.

    numeric: missing values filled (column mean by default), then z-scored.
    categorical: vocabulary of the training split (top_k most frequent),
    plus num_oov_buckets for unseen values; missing values are a category.
    With hash_buckets, values are hashed into that many buckets instead: no
    vocabulary, so the encoding stays the same from one data span to the
    next (what warm starts across spans need).
    bucketized: missing filled like numeric, then quantile buckets.
    """

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["numeric", "categorical", "bucketized"]
    fill: Literal["mean"] | float = "mean"
    top_k: PositiveInt | None = None
    num_oov_buckets: int = Field(1, ge=0)
    num_buckets: int = Field(10, ge=2)
    hash_buckets: PositiveInt | None = None

    @model_validator(mode="after")
    def _check(self) -> Feature:
        if self.hash_buckets is not None:
            if self.type != "categorical":
                raise ValueError("'hash_buckets' is for categorical features")
            if self.top_k is not None:
                raise ValueError("give 'top_k' (vocabulary) or 'hash_buckets', not both")
        return self


class DerivedColumn(_Strict):
    """A column computed from raw columns by a user function.

    The function receives a dict of the listed raw columns as dense rank-1
    tensors (numeric columns as float32 with NaN where missing, string
    columns with '' where missing) and returns a rank-1 tensor.
    """

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    function: str = Field(pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    inputs: list[str] = Field(min_length=1)
    dtype: Literal["float", "string"] = "float"


class Head(_Strict):
    """One task of the model: its label, tower, loss, optimizer and gates."""

    name: str = Field(pattern=NAME_RE)
    label: str
    task: Task
    loss: str | None = None
    optimizer: Optimizer = Optimizer()
    tower: list[PositiveInt] = [64, 32]
    metrics: list[str] | None = None
    thresholds: dict[str, Threshold] = {}
    label_may_be_missing: bool = False
    # Multiplies this head's loss (its own gradients in disjoint mode, its
    # share of the summed loss in joint mode or for a backbone optimizer).
    weight: float = Field(1.0, gt=0)
    positive_class: str | None = None
    classes: list[str] | None = None
    num_classes: int | None = Field(None, ge=2)

    @model_validator(mode="after")
    def _check(self) -> Head:
        allowed = LOSSES[self.task]
        if self.loss is None:
            object.__setattr__(self, "loss", allowed[0])
        elif self.loss not in allowed:
            raise ValueError(
                f"loss {self.loss!r} does not fit task {self.task!r}; "
                f"expected one of {list(allowed)}"
            )
        known = METRICS[self.task]
        if self.metrics is None:
            object.__setattr__(self, "metrics", list(DEFAULT_METRICS[self.task]))
        for metric in self.metrics:
            if metric not in known:
                raise ValueError(
                    f"metric {metric!r} is unknown for task {self.task!r}; "
                    f"expected one of {sorted(known)}"
                )
        for metric in self.thresholds:
            if metric not in self.metrics:
                raise ValueError(
                    f"threshold on {metric!r}, which is not in this head's metrics {self.metrics}"
                )
        if self.task == "multiclass":
            if (self.classes is None) == (self.num_classes is None):
                raise ValueError(
                    "a multiclass head needs exactly one of 'classes' (string "
                    "labels, in output order) or 'num_classes' (labels 0..n-1)"
                )
            if self.classes is not None and len(set(self.classes)) < 2:
                raise ValueError("'classes' needs at least two distinct values")
        elif self.classes is not None or self.num_classes is not None:
            raise ValueError("'classes' and 'num_classes' are for multiclass heads")
        if self.positive_class is not None and self.task != "binary":
            raise ValueError("'positive_class' is for binary heads")
        return self

    @property
    def output_size(self) -> int:
        if self.task == "multiclass":
            return len(self.classes) if self.classes else int(self.num_classes)
        return 1

    @property
    def label_key(self) -> str:
        """Name of the transformed label column of this head."""
        return f"{self.name}_label"

    @property
    def weight_key(self) -> str:
        """Name of the transformed 0/1 column saying the label is present."""
        return f"{self.name}_weight"


class Backbone(_Strict):
    """A trainable block shared by every head, and who updates it.

    update=per_head: every head's optimizer applies its own loss gradient to
    the backbone. update=backbone_optimizer: one more optimizer applies the
    gradient of the weighted sum of the head losses.
    """

    layers: list[PositiveInt] = Field(min_length=1)
    update: Literal["per_head", "backbone_optimizer"] = "per_head"
    optimizer: Optimizer | None = None

    @model_validator(mode="after")
    def _check(self) -> Backbone:
        if self.update == "backbone_optimizer" and self.optimizer is None:
            object.__setattr__(self, "optimizer", Optimizer())
        if self.update == "per_head" and self.optimizer is not None:
            raise ValueError("'optimizer' is only used with update: backbone_optimizer")
        return self


class Training(_Strict):
    mode: Literal["disjoint", "joint"] = "disjoint"
    joint_optimizer: Optimizer = Optimizer()
    backbone: Backbone | None = None
    steps: PositiveInt = 1000
    batch_size: PositiveInt = 256
    eval_batches: PositiveInt = 20
    log_every: PositiveInt = 50
    seed: int = 42


class Baseline(_Strict):
    """Retraining against the model currently served (the serving folder).

    warm_start: each head starts from the served model's weights where names
    and shapes match. compare: the evaluator also evaluates the served model
    and applies the change bounds (max_worse, max_worse_relative).
    """

    warm_start: bool = False
    compare: bool = False

    @property
    def enabled(self) -> bool:
        return self.warm_start or self.compare


class Push(_Strict):
    """allow_signature_change: push a candidate that drops or changes a
    signature or output of the served model (breaking its clients)."""

    allow_signature_change: bool = False


class Retraining(_Strict):
    """`multihead retrain`: the newest `spans` span folders per run; with
    skip_without_new_span, a run whose newest span is already served does
    nothing."""

    spans: PositiveInt = 1
    skip_without_new_span: bool = True


class Evaluation(_Strict):
    """Which heads must pass their thresholds for the model to be pushed."""

    require: Literal["all"] | list[str] = "all"


class PipelineConfig(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,127}$")
    data: str = "data"
    # A curated TFDV schema (schema.pbtxt), relative to the config file. Given,
    # the data is validated against it and anomalies stop the run before
    # training; without it, the schema is inferred from the data.
    # (`schema` in the file; BaseModel.schema is a pydantic method.)
    schema_file: str | None = Field(None, alias="schema")
    features: list[Feature] = Field(min_length=1)
    derived: list[DerivedColumn] = []
    heads: list[Head] = Field(min_length=1)
    training: Training = Training()
    evaluation: Evaluation = Evaluation()
    baseline: Baseline = Baseline()
    push: Push = Push()
    retraining: Retraining = Retraining()
    # Empty: Beam's DirectRunner defaults (in-memory, one worker), the fastest
    # on 2 cores for these sizes. Any argument makes TFX build a source
    # package of itself for remote workers in every Beam component (about 1 s
    # each) unless it names the dependencies (--extra_package, --setup_file).
    beam_pipeline_args: list[str] = []
    # Directory of the config file, used to resolve relative paths. Set by
    # load_config; not a user field.
    base_dir: str = Field("", exclude=True)

    @field_validator("heads")
    @classmethod
    def _unique_heads(cls, heads: list[Head]) -> list[Head]:
        names = [h.name for h in heads]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"head names must be unique; repeated: {dupes}")
        for name in names:
            if name in RESERVED_SIGNATURES:
                raise ValueError(
                    f"head name {name!r} is reserved for a signature; "
                    f"pick another (reserved: {sorted(RESERVED_SIGNATURES)})"
                )
        return heads

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        # A feature named like a derived column is computed from that column.
        for kind, names in (
            ("feature", [f.name for f in self.features]),
            ("derived", [d.name for d in self.derived]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{kind} names must be unique; repeated: {dupes}")
        columns = {f.name for f in self.features}
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
        outputs = columns
        for head in self.heads:
            for key in (head.label_key, head.weight_key):
                if key in outputs:
                    raise ValueError(
                        f"feature {key!r} collides with head {head.name!r}'s "
                        "label columns; rename the feature"
                    )
        if isinstance(self.evaluation.require, list):
            head_names = {h.name for h in self.heads}
            unknown = [h for h in self.evaluation.require if h not in head_names]
            if unknown:
                raise ValueError(
                    f"evaluation.require names unknown head(s) {unknown}; "
                    f"heads are {sorted(head_names)}"
                )
        return self

    # -- derived facts ------------------------------------------------------

    @property
    def data_dir(self) -> str:
        if "://" in self.data or os.path.isabs(self.data):
            return self.data
        return os.path.normpath(os.path.join(self.base_dir, self.data))

    @property
    def schema_path(self) -> str | None:
        schema = self.schema_file
        if schema is None or "://" in schema or os.path.isabs(schema):
            return schema
        return os.path.normpath(os.path.join(self.base_dir, schema))

    def head(self, name: str) -> Head:
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(name)

    def raw_columns(self) -> set[str]:
        """Raw CSV columns the pipeline reads (features, labels, derived inputs)."""
        derived = {d.name: d for d in self.derived}
        wanted: set[str] = set()
        for name in [f.name for f in self.features] + [h.label for h in self.heads]:
            if name in derived:
                wanted.update(derived[name].inputs)
            else:
                wanted.add(name)
        return wanted

    def serving_columns(self) -> set[str]:
        """Raw columns a serving client sends: those the features read."""
        derived = {d.name: d for d in self.derived}
        wanted: set[str] = set()
        for feature in self.features:
            if feature.name in derived:
                wanted.update(derived[feature.name].inputs)
            else:
                wanted.add(feature.name)
        return wanted

    def required_heads(self) -> list[str]:
        if self.evaluation.require == "all":
            return [h.name for h in self.heads]
        return list(self.evaluation.require)

    def transform_view(self) -> PipelineConfig:
        """The part of the config the transform reads, the rest at defaults.

        Passed to Transform so that changing training or thresholds does not
        invalidate its cached output.
        """
        label_fields = {"name", "label", "task", "positive_class", "classes", "num_classes"}
        heads = [h.model_dump(include=label_fields, exclude_none=True) for h in self.heads]
        return self._view(heads=heads)

    def trainer_view(self) -> PipelineConfig:
        """The config without evaluation settings, for the trainer's cache key."""
        heads = [h.model_dump(exclude={"metrics", "thresholds"}) for h in self.heads]
        return self._view(
            heads=heads,
            training=self.training.model_dump(),
            baseline={"warm_start": self.baseline.warm_start},
        )

    def _view(self, **fields: Any) -> PipelineConfig:
        data = {
            "name": self.name,
            "features": [f.model_dump() for f in self.features],
            "derived": [d.model_dump() for d in self.derived],
            **fields,
        }
        return PipelineConfig.model_validate(data)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        return cls.model_validate(json.loads(text))

    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
        lines.append(f"  {where}: {message}{shown}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<config>", base_dir: str = "") -> PipelineConfig:
    """Validates a config given as parsed YAML/JSON data.

    Raises:
      ConfigError: naming every field that is wrong, its value and what was
        expected.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        config = PipelineConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as error:
        raise ConfigError(f"{source} is not a valid config:\n{_format_errors(error)}") from None
    for column in config.derived:
        try:
            resolve_function(column.function)
        except ConfigError as error:
            raise ConfigError(f"{source}: derived.{column.name}: {error}") from None
    return config


def load_config(path: str = DEFAULT_CONFIG) -> PipelineConfig:
    """Loads and validates a YAML config file."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return parse_config(data, source=path, base_dir=os.path.dirname(os.path.abspath(path)))


def resolve_function(dotted: str) -> Callable[..., Any]:
    """Imports `package.module.function` and returns the function."""
    module_name, _, attr = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"cannot import module {module_name!r} of {dotted!r}: {error}") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigError(f"{dotted!r}: module {module_name!r} has no function {attr!r}")
    return function
