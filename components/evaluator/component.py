"""MultiHeadEvaluator: TFMA on every head, one verdict per head."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts

from components.constants import CONFIG_KEY
from components.evaluator import executor
from components.evaluator.gates import EvaluationSpec
from components.evaluator.spec import MultiHeadEvaluatorSpec


class MultiHeadEvaluator(base_beam_component.BaseBeamComponent):
    """Evaluates each head with its own metrics and thresholds (TFMA on Beam).

    Outputs the standard `evaluation` artifact and a `blessing` whose custom
    properties carry `blessed` and the per-head `verdicts` with reasons.
    """

    SPEC_CLASS = MultiHeadEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        evaluation_spec: EvaluationSpec,
        baseline_model: types.BaseChannel | None = None,
    ):
        spec = MultiHeadEvaluatorSpec(
            examples=examples,
            model=model,
            baseline_model=baseline_model,
            **{CONFIG_KEY: evaluation_spec.to_json()},
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        super().__init__(spec=spec)
