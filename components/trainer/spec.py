"""Channels and parameters of MultiHeadTrainer."""

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

EXAMPLES_KEY = "examples"
TRANSFORM_GRAPH_KEY = "transform_graph"
ANOMALIES_KEY = "anomalies"
BASE_MODEL_KEY = "base_model"
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"
CONFIG_KEY = "config"
CODE_FINGERPRINT_KEY = "code_fingerprint"
# Custom property of the model: JSON of the heads warm-started, fresh and why.
WARM_START_PROPERTY = "warm_start"


class MultiHeadTrainerSpec(ComponentSpec):
    PARAMETERS = {
        # The validated PipelineConfig as JSON.
        CONFIG_KEY: ExecutionParameter(type=str),
        # Hash of the trainer code, so a code change invalidates the cache.
        CODE_FINGERPRINT_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        TRANSFORM_GRAPH_KEY: ChannelParameter(type=standard_artifacts.TransformGraph),
        ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies, optional=True),
        # The served model (ServedModelLookup), to warm-start from.
        BASE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
    }
