"""Channels and parameters of BatchScorer, and its output artifact type."""

from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

PUSHED_MODEL_KEY = "pushed_model"
PREDICTIONS_KEY = "predictions"
DATA_KEY = "data"
SERVING_DIR_KEY = "serving_dir"
KEEP_KEY = "keep"
HEADS_KEY = "heads"
FORMAT_KEY = "format"
# What the data folder holds (names, sizes, times) and what is served: the
# cache key of a local run; on Kubeflow the task is never cached.
STATE_KEY = "state"


class Predictions(Artifact):
    """Scored rows: `predictions.<csv|jsonl>`, and `predictions.rejects.jsonl` if any."""

    # KFP takes a custom type name of the form <namespace>.<Name>.
    TYPE_NAME = "multihead.Predictions"


class BatchScorerSpec(ComponentSpec):
    PARAMETERS = {
        DATA_KEY: ExecutionParameter(type=str),
        SERVING_DIR_KEY: ExecutionParameter(type=str),
        KEEP_KEY: ExecutionParameter(type=str, optional=True),  # JSON list
        HEADS_KEY: ExecutionParameter(type=str, optional=True),  # JSON list
        FORMAT_KEY: ExecutionParameter(type=str, optional=True),
        STATE_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel),
    }
    OUTPUTS = {
        PREDICTIONS_KEY: ChannelParameter(type=Predictions),
    }
