"""MultiHeadTrainer: trains every head of the config on the transformed data."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from components.constants import CODE_FINGERPRINT_KEY, CONFIG_KEY
from components.trainer import executor
from components.trainer.spec import MultiHeadTrainerSpec
from trainer_module.spec import ModelSpec


class MultiHeadTrainer(base_component.BaseComponent):
    """Trains the heads of a ModelSpec disjointly (or jointly) and exports one
    SavedModel with a signature per head.

    Outputs `model` (the SavedModel under Format-Serving) and `model_run`
    (TensorBoard logs, one run per head).
    """

    SPEC_CLASS = MultiHeadTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        model_spec: ModelSpec,
        code_fingerprint: str,
        anomalies: types.BaseChannel | None = None,
        base_model: types.BaseChannel | None = None,
    ):
        spec = MultiHeadTrainerSpec(
            examples=examples,
            transform_graph=transform_graph,
            anomalies=anomalies,
            base_model=base_model,
            **{CONFIG_KEY: model_spec.to_json(), CODE_FINGERPRINT_KEY: code_fingerprint},
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun),
        )
        super().__init__(spec=spec)
