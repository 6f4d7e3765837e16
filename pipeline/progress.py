"""One line per component as it starts and ends, from LocalDagRunner's log."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO


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
        if message == "Component %s is running.":
            self.current, self.cached, self.started = (
                record.args[0],
                False,
                time.monotonic(),
            )
            self._print(f"[{self.current}] started")
        elif message == "A cached execution %d is used.":
            self.cached = True
        elif message == "Component %s is finished." and self.current:
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
