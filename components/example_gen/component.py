"""CsvExampleGen with a streaming, vectorised executor (see executor.py).

Same spec, driver and outputs as TFX's CsvExampleGen (input_base, input and
output configs, spans and versions), so it drops into any pipeline.
"""

from __future__ import annotations

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec

from components.example_gen import executor


class CsvExampleGen(FileBasedExampleGen):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
