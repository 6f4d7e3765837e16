"""Channels and parameters of MultiHeadTrainer."""

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.constants import CODE_FINGERPRINT_KEY, CONFIG_KEY

EXAMPLES_KEY = "examples"
TRANSFORM_GRAPH_KEY = "transform_graph"
ANOMALIES_KEY = "anomalies"
BASE_MODEL_KEY = "base_model"
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"

# Beside the SavedModel in the model artifact: what run_fn reported.
REPORT_FILE = "training_report.json"


class MultiHeadTrainerSpec(ComponentSpec):
    PARAMETERS = {
        # The ModelSpec (trainer_module/spec.py) as JSON.
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
