"""ServedModelLookup: the model currently served, as a Model artifact.

Open-source Kubeflow Pipelines does not run TFX resolver nodes, so the
baseline and the warm start come from this component instead: it reads the
serving folder (local, gs://, s3:// through tfx.dsl.io.fileio) and copies the
newest version into its output. On the first run there is none: the output
then has `found` = 0 and no files, and its consumers go on without it.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from components.served_model import executor
from components.served_model.spec import ServedModelLookupSpec


class ServedModelLookup(base_component.BaseComponent):
    SPEC_CLASS = ServedModelLookupSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, serving_dir, served_state: str | None = None):
        spec = ServedModelLookupSpec(
            serving_dir=serving_dir,
            served_state=served_state,
            model=types.Channel(type=standard_artifacts.Model),
        )
        super().__init__(spec=spec)
