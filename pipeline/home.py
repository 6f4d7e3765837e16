"""Where a run's records live in the home folder: its summary and its report.

(The metadata store and artifacts are the local runner's: local_runner.py;
the serving folder is components/serving.py's.)
"""

from __future__ import annotations

import os

RUNS_DIR, LATEST = "runs", "latest.json"
REPORTS_DIR, REPORT_PAGE = "reports", "index.html"


def safe_run_id(run_id: str) -> str:
    """A run id as a file or folder name (runs/<id>.json, reports/<id>/)."""
    return run_id.replace(":", "-").replace("/", "-")


def summary_file(home: str, run_id: str | None = None) -> str:
    """runs/<run id>.json, or runs/latest.json without a run id."""
    name = LATEST if run_id is None else f"{safe_run_id(run_id)}.json"
    return os.path.join(home, RUNS_DIR, name)


def report_dir(home: str, run_id: str) -> str:
    """reports/<run id>/: the report's page and its plots."""
    return os.path.join(home, REPORTS_DIR, safe_run_id(run_id))
