"""One line per component as it starts and ends, from LocalDagRunner's log."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

# The format strings of the records parsed here, as TFX 1.16 logs them
# (tfx/orchestration/local/local_dag_runner.py and portable/launcher.py);
# tests/test_progress.py checks that the installed TFX still logs them.
RUNNING = "Component %s is running."
FINISHED = "Component %s is finished."
CACHED = "A cached execution %d is used."


class ComponentProgress(logging.Handler):
    """Turns the runner's 'Component X is running/finished.' records into
    progress lines with durations, and remembers the component that runs."""

    def __init__(self, stream: TextIO = sys.stdout):
        super().__init__(level=logging.INFO)
        self.stream = stream
        self.current: str | None = None
        self.cached = False
        self.started = 0.0
        self.durations: dict[str, dict] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.msg
        if message == RUNNING:
            self.current, self.cached, self.started = (
                record.args[0],
                False,
                time.monotonic(),
            )
            self._print(f"[{self.current}] started")
        elif message == CACHED:
            self.cached = True
        elif message == FINISHED and self.current:
            seconds = time.monotonic() - self.started
            self.durations[self.current] = {
                "seconds": round(seconds, 2),
                "cached": self.cached,
            }
            how = "cached" if self.cached else "done"
            self._print(f"[{self.current}] {how} in {seconds:.1f}s")
            self.current = None

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
