"""Channels and parameters of MultiHeadEvaluator."""

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"
EVALUATION_KEY = "evaluation"
BLESSING_KEY = "blessing"
CONFIG_KEY = "config"
BEAM_PIPELINE_ARGS_KEY = "beam_pipeline_args"

# Custom properties of the blessing artifact.
BLESSED_PROPERTY = "blessed"  # 1 or 0, what the stock Pusher reads too
VERDICTS_PROPERTY = "verdicts"  # JSON: head -> metrics, thresholds, verdict, reasons
VERDICTS_FILE = "verdicts.json"


class MultiHeadEvaluatorSpec(ComponentSpec):
    PARAMETERS = {
        CONFIG_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        # The served model (ServedModelLookup), for the change bounds.
        BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
    }
