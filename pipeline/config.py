"""The pipeline config: the model spec plus what only the pipeline needs.

A config is one YAML file. The model part (features, derived columns, heads'
tasks, losses, optimizers, towers, training) is trainer_module.spec's; this
module adds each head's metrics and thresholds and the pipeline's own
sections (evaluation, baseline, push, retraining, Beam, data). Every field
is checked when the file is loaded (pipeline/config_file.py), so a typo
fails before any component runs. Each component gets only its typed piece:
`transform_spec()`, `model_spec()`, `evaluation_spec()`.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from components.evaluator.gates import (
    EvaluationSpec,
    HeadGates,
    Slicing,
    Threshold,
    check_gates,
    check_slicings,
)
from pipeline.beam import Beam
from pipeline.resources import Kubeflow
from trainer_module.spec import HeadSpec, ModelSpec, Strict

__all__ = [
    "Baseline",
    "Evaluation",
    "HeadConfig",
    "PipelineConfig",
    "Push",
    "Retraining",
    "Scoring",
]


class HeadConfig(HeadSpec):
    """A head as the config file gives it: the model part plus its gates."""

    metrics: list[str] | None = None
    thresholds: dict[str, Threshold] = {}

    @model_validator(mode="after")
    def _default_metrics(self) -> HeadConfig:
        object.__setattr__(self, "metrics", check_gates(self.kind, self.metrics, self.thresholds))
        return self


class Baseline(Strict):
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


class Push(Strict):
    """allow_signature_change: push a candidate that drops or changes a
    signature or output of the served model (breaking its clients).

    release: `per_head` (the default) pushes, when a model is served, the
    candidate's passing heads with the served version of each failing head
    (its transform included; outputs bit for bit the served ones): a
    regression of one head no longer holds back the others, and nothing is
    served that was not serving or passing. `whole` pushes the candidate or
    nothing. With no model served, both push only when the required heads
    pass. The served model comes from the `baseline` lookup: without
    `baseline` (warm_start or compare) a release is whole.
    """

    allow_signature_change: bool = False
    release: Literal["whole", "per_head"] = "per_head"


class Retraining(Strict):
    """`multihead retrain`: the newest `spans` span folders per run; with
    skip_without_new_span, a run whose newest span is already served does
    nothing."""

    spans: int = Field(1, gt=0)
    skip_without_new_span: bool = True


class Scoring(Strict):
    """Batch scoring after the push (BatchScorer): every head's predictions
    for the CSV (or JSON Lines) files in `data` (relative to the config
    file, or a URI), with the newest served model once the push is done.
    keep: input columns copied into the output; heads: which heads (default
    all); format: csv or jsonl."""

    data: str
    keep: list[str] = []
    heads: list[str] = []
    format: Literal["csv", "jsonl"] = "csv"


class Evaluation(Strict):
    """require: heads that must pass their thresholds for a push (with
    per-head release, a failing required head may keep its served version).

    confidence: the level of the paired interval (TFMA's jackknife on the
    same eval examples) by which max_worse / max_worse_relative judge the
    change from the served model: a change is refused only when the whole
    interval is worse than allowed. `none`: the point estimates decide, as
    the numbers come out.

    slices: slicings of the eval split, each a list of raw CSV columns
    (`[[payment_type], [company, payment_type]]`): every head's metrics are
    computed on each slice in the same TFMA pass, and a threshold's
    `per_slice` bounds judge them. slices_kept: per head and slicing, the
    summary lists every failing slice and the largest others up to this
    many; the rest are counted in one `others` entry.
    """

    require: Literal["all"] | list[str] = "all"
    confidence: Annotated[float, Field(gt=0.5, lt=1)] | Literal["none"] = 0.95
    slices: list[Slicing] = []
    slices_kept: int = Field(20, ge=1)

    @property
    def confidence_level(self) -> float | None:
        return None if self.confidence == "none" else float(self.confidence)


class PipelineConfig(ModelSpec):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,127}$")
    data: str = "data"
    # A curated TFDV schema (schema.pbtxt), relative to the config file. Given,
    # the data is validated against it and anomalies stop the run before
    # training; without it, the schema is inferred from the data.
    # (`schema` in the file; BaseModel.schema is a pydantic method.)
    schema_file: str | None = Field(None, alias="schema")
    heads: list[HeadConfig] = Field(min_length=1)
    evaluation: Evaluation = Evaluation()
    baseline: Baseline = Baseline()
    push: Push = Push()
    retraining: Retraining = Retraining()
    scoring: Scoring | None = None
    # Where the Beam steps run (pipeline/beam.py): local, multiprocess or dataflow.
    beam: Beam = Beam()
    # Raw Beam options instead of `beam` (still read; one or the other).
    beam_pipeline_args: list[str] = []
    # Kubeflow-only: each task's CPU and memory (pipeline/resources.py).
    kubeflow: Kubeflow = Kubeflow()
    # Directory of the config file, used to resolve relative paths. Set by
    # the loader; not a user field.
    base_dir: str = Field("", exclude=True)

    @model_validator(mode="after")
    def _known_required_heads(self) -> PipelineConfig:
        if isinstance(self.evaluation.require, list):
            head_names = {h.name for h in self.heads}
            unknown = [h for h in self.evaluation.require if h not in head_names]
            if unknown:
                raise ValueError(
                    f"evaluation.require names unknown head(s) {unknown}; "
                    f"heads are {sorted(head_names)}"
                )
        return self

    @model_validator(mode="after")
    def _beam_in_one_place(self) -> PipelineConfig:
        if self.beam.chosen and self.beam_pipeline_args:
            raise ValueError(
                "beam and beam_pipeline_args both say where Beam runs: keep beam, and move "
                f"the other options {self.beam_pipeline_args} to beam.args"
            )
        return self

    @model_validator(mode="after")
    def _known_scored_heads(self) -> PipelineConfig:
        if self.scoring is not None:
            names = [h.name for h in self.heads]
            unknown = [h for h in self.scoring.heads if h not in names]
            if unknown:
                raise ValueError(
                    f"scoring.heads names unknown head(s) {unknown}; heads are {names}"
                )
        return self

    @model_validator(mode="after")
    def _frozen_heads_have_a_served_model(self) -> PipelineConfig:
        if self.frozen and not self.baseline.warm_start:
            raise ValueError(
                f"heads {self.frozen} are frozen: they are served from the served model, which "
                "is looked up with baseline.warm_start; set baseline: {warm_start: true}"
            )
        return self

    @model_validator(mode="after")
    def _known_slicings(self) -> PipelineConfig:
        check_slicings(self.evaluation.slices, {h.name: h.thresholds for h in self.heads})
        return self

    def _resolve(self, path: str | None) -> str | None:
        if path is None or "://" in path or os.path.isabs(path):
            return path
        return os.path.normpath(os.path.join(self.base_dir, path))

    @property
    def data_dir(self) -> str:
        return self._resolve(self.data) or self.data

    @property
    def schema_path(self) -> str | None:
        return self._resolve(self.schema_file)

    @property
    def scoring_dir(self) -> str | None:
        return self._resolve(self.scoring.data) if self.scoring else None

    def beam_args(self) -> list[str]:
        """The Beam options every Beam component gets."""
        return list(self.beam_pipeline_args) or self.beam.pipeline_args()

    def required_heads(self) -> list[str]:
        if self.evaluation.require == "all":
            return [h.name for h in self.heads]
        return list(self.evaluation.require)

    def evaluation_spec(self) -> EvaluationSpec:
        """Only the evaluator's part: every head's metrics and thresholds."""
        heads = [
            HeadGates(
                name=h.name,
                task=h.task,
                metrics=list(h.metrics or []),
                thresholds=h.thresholds,
                output=h.kind.evaluated_output(h),
            )
            for h in self.heads
        ]
        return EvaluationSpec(
            heads=heads,
            require=self.required_heads(),
            compare=self.baseline.compare,
            confidence=self.evaluation.confidence_level,
            release=self.push.release,
            slices=self.evaluation.slices,
            slices_kept=self.evaluation.slices_kept,
        )
