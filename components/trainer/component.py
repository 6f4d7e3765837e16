"""MultiHeadTrainer: trains every head of the config on the transformed data."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from components.trainer import executor
from components.trainer.spec import MultiHeadTrainerSpec


class MultiHeadTrainer(base_component.BaseComponent):
    """Trains the heads of a config disjointly (or jointly) and exports one
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
        config_json: str,
        code_fingerprint: str,
        anomalies: types.BaseChannel | None = None,
        base_model: types.BaseChannel | None = None,
    ):
        spec = MultiHeadTrainerSpec(
            examples=examples,
            transform_graph=transform_graph,
            anomalies=anomalies,
            base_model=base_model,
            config=config_json,
            code_fingerprint=code_fingerprint,
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun),
        )
        super().__init__(spec=spec)
