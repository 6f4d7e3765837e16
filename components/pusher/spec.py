"""Channels and parameters of MultiHeadPusher."""

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
SERVED_MODEL_KEY = "served_model"
PUSHED_MODEL_KEY = "pushed_model"
SERVING_DIR_KEY = "serving_dir"
ALLOW_SIGNATURE_CHANGE_KEY = "allow_signature_change"


class MultiHeadPusherSpec(ComponentSpec):
    PARAMETERS = {
        # <base>/<model_name>: versions go to numbered folders under it.
        SERVING_DIR_KEY: ExecutionParameter(type=str),
        # 1: push even when signatures or outputs of the served model change.
        ALLOW_SIGNATURE_CHANGE_KEY: ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        # The served model the evaluator saw (ServedModelLookup): a per-head
        # release takes the heads it keeps from it.
        SERVED_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel),
    }
