"""MultiHeadPusher: a blessed model to a TensorFlow Serving directory."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from components.pusher import executor
from components.pusher.spec import MultiHeadPusherSpec


class MultiHeadPusher(base_component.BaseComponent):
    """Copies a blessed model to `<serving_dir>/<version>/`, atomically.

    The version is one more than the largest already there (1 for the
    first). Nothing is written when the model is not blessed.
    """

    SPEC_CLASS = MultiHeadPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        serving_dir: str,
    ):
        spec = MultiHeadPusherSpec(
            model=model,
            model_blessing=model_blessing,
            serving_dir=serving_dir,
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
        )
        super().__init__(spec=spec)
