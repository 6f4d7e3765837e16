"""`multihead report`: rebuild a run's report from its summary.

The summary (`runs/<run id>.json`, written by every local run) names the
artifacts the report reads; TensorFlow and matplotlib are imported when the
command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import json
import os

from pipeline import home as home_layout
from pipeline.errors import ReportError, UsageError


def read_summary(home: str, run_id: str | None) -> dict:
    """The run's summary (the newest run's without a run id).

    Raises:
      UsageError: no such run in the home, naming the runs there.
    """
    path = home_layout.summary_file(home, run_id)
    if not os.path.exists(path):
        runs = os.path.join(home, home_layout.RUNS_DIR)
        known = sorted(
            name.removesuffix(".json")
            for name in (os.listdir(runs) if os.path.isdir(runs) else [])
            if name.endswith(".json") and name != home_layout.LATEST
        )
        what = f"run {run_id!r}" if run_id else "a run"
        listed = f"; runs there: {', '.join(known[-5:])}" if known else "; run the pipeline first"
        raise UsageError(f"no summary of {what} in {runs}{listed}")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise ReportError(f"cannot read the run summary {path}: {error}") from None


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.report.build import write_report

    home = os.path.abspath(args.home)
    summary = read_summary(home, args.run)
    page = write_report(summary, home)
    print(f"report: {page}")
    return 0


def add_command(sub: argparse._SubParsersAction, default_home: str) -> None:
    report = sub.add_parser("report", help="rebuild a run's HTML report (default: the newest run)")
    report.add_argument("--run", help="the run id (as in runs/<run id>.json; default: the newest)")
    report.add_argument("--home", default=default_home, help=f"(default: {default_home})")
    report.set_defaults(func=cmd_report)
