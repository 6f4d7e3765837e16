"""The progress lines come from LocalDagRunner's log records: pinned here, so a
TFX upgrade that rewords them fails this test instead of silencing progress."""

from __future__ import annotations

import inspect
import io
import logging

from tfx.orchestration.local import local_dag_runner
from tfx.orchestration.portable import launcher

from pipeline.progress import CACHED, FINISHED, RUNNING, ComponentProgress


def record(message: str, *args) -> logging.LogRecord:
    return logging.LogRecord("absl", logging.INFO, __file__, 1, message, args, None)


def test_installed_tfx_still_logs_the_parsed_lines():
    runner = inspect.getsource(local_dag_runner)
    assert f"logging.info('{RUNNING}', node_id)" in runner
    assert f"logging.info('{FINISHED}', node_id)" in runner
    assert f"logging.info('{CACHED}', execution.id)" in inspect.getsource(launcher)


def test_a_run_and_a_cached_component_become_lines_with_durations():
    out = io.StringIO()
    progress = ComponentProgress(out)
    progress.emit(record(RUNNING, "Transform"))
    assert progress.current == "Transform"
    progress.emit(record(FINISHED, "Transform"))
    progress.emit(record(RUNNING, "MultiHeadTrainer"))
    progress.emit(record(CACHED, 7))
    progress.emit(record(FINISHED, "MultiHeadTrainer"))
    lines = out.getvalue().splitlines()
    assert lines[0] == "[Transform] started"
    assert lines[1].startswith("[Transform] done in ")
    assert lines[3].startswith("[MultiHeadTrainer] cached in ")
    assert progress.durations["MultiHeadTrainer"]["cached"] is True
    assert progress.durations["Transform"]["cached"] is False
    assert progress.current is None


def test_other_records_print_nothing():
    out = io.StringIO()
    ComponentProgress(out).emit(record("Component %s is finished.", "X"))  # none running
    ComponentProgress(out).emit(record("something else %s", "X"))
    assert out.getvalue() == ""
