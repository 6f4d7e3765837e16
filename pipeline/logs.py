"""Where a run's output goes: library logs to a file, progress to the terminal."""

from __future__ import annotations

import datetime
import logging
import os
import warnings

from pipeline.progress import ComponentProgress


def quiet_known_warnings() -> None:
    """Warnings of libraries TFX imports that are not ours to act on."""
    # google.api_core warns on every import under Python 3.10, which TFX 1.16 needs.
    warnings.filterwarnings(
        "ignore", message="You are using a non-supported Python version", category=FutureWarning
    )
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")


def log_to_file(home: str) -> tuple[str, ComponentProgress]:
    """Sends every library log to `<home>/logs/run-<stamp>.log`.

    Returns:
      (the log file, the handler that prints one line per component).
    """
    from absl import logging as absl_logging

    logs = os.path.join(home, "logs")
    os.makedirs(logs, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_file = os.path.join(logs, f"run-{stamp}.log")
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    file_handler = logging.FileHandler(log_file)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger = logging.getLogger("absl")
    absl_logger.propagate = True
    progress = ComponentProgress()
    absl_logger.addHandler(progress)
    for name in ("tensorflow", "apache_beam"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    return log_file, progress
