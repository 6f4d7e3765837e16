"""Channels and parameters of ServedModelLookup."""

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

SERVING_DIR_KEY = "serving_dir"
SERVED_STATE_KEY = "served_state"
MODEL_KEY = "model"


class ServedModelLookupSpec(ComponentSpec):
    PARAMETERS = {
        SERVING_DIR_KEY: ExecutionParameter(type=str),
        # What the serving folder held when the pipeline was built; part of
        # the cache key, so a newly pushed version is not missed locally.
        SERVED_STATE_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}
