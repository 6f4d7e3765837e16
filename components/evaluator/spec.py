"""Channels and parameters of MultiHeadEvaluator."""

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.constants import CONFIG_KEY

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"
EVALUATION_KEY = "evaluation"
BLESSING_KEY = "blessing"

# Files in the blessing folder: the verdicts, and BLESSED or NOT_BLESSED.
VERDICTS_FILE = "verdicts.json"


class MultiHeadEvaluatorSpec(ComponentSpec):
    PARAMETERS = {
        # The EvaluationSpec (components/evaluator/gates.py) as JSON.
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
