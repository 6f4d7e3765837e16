"""BatchScorer: after the pusher, every head's predictions for a data folder.

The stock BulkInferrer cannot run a model of several signatures
(tfx-bsl#29); this component scores through the model's serving_columns
signature (components/scoring/batch.py) on the pipeline's Beam options. It
scores with the newest served version that loads once the push is done
(the model this run pushed, when it pushed one); with none served it writes
no rows and says so.
"""

from __future__ import annotations

import json

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec

from components.scoring import executor
from components.scoring.spec import BatchScorerSpec, Predictions


class BatchScorer(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = BatchScorerSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        pushed_model: types.BaseChannel,
        data: str,
        serving_dir,
        keep: list[str] | None = None,
        heads: list[str] | None = None,
        output_format: str = "csv",
        state: str | None = None,
    ):
        spec = BatchScorerSpec(
            pushed_model=pushed_model,
            data=data,
            serving_dir=serving_dir,
            keep=json.dumps(list(keep or [])),
            heads=json.dumps(list(heads or [])),
            format=output_format,
            state=state,
            predictions=types.Channel(type=Predictions),
        )
        super().__init__(spec=spec)
