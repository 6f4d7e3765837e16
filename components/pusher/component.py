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
    first). With a per-head release that keeps some heads' served versions
    (the blessing says which), the pushed model is composed of the
    candidate's other heads and those of `served_model`. Nothing is written
    when the model is not blessed, nor when it would drop or change a
    signature or output of the served model (unless
    `allow_signature_change`).
    """

    SPEC_CLASS = MultiHeadPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        serving_dir: str,
        allow_signature_change: bool = False,
        served_model: types.BaseChannel | None = None,
    ):
        spec = MultiHeadPusherSpec(
            model=model,
            model_blessing=model_blessing,
            served_model=served_model,
            serving_dir=serving_dir,
            allow_signature_change=int(allow_signature_change),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
        )
        super().__init__(spec=spec)
