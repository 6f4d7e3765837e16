"""The `multihead` command line: the parser, and exit codes mapped once.

Handlers (pipeline/commands.py for the local commands, kubeflow/cli.py for
the Kubeflow ones) return 0 or raise a pipeline.errors type; `main` prints
its message and returns its exit code (pipeline/errors.py). This is the one
module of pipeline/ that reaches up into kubeflow/: the entry point that
assembles both command sets.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pipeline import scoring  # noqa: E402  (after TensorFlow's log level)
from pipeline.config_file import DEFAULT_CONFIG, RETRAIN_CONFIG  # noqa: E402
from pipeline.errors import CommandError  # noqa: E402
from pipeline.logs import quiet_known_warnings  # noqa: E402
from pipeline.report import command as report  # noqa: E402

DEFAULT_HOME = ".multihead"


def _local(name: str):
    """A handler of pipeline/commands.py, imported when its command runs: that
    module brings in TFX's orchestration (about 8 s), which `predict` and the
    Kubeflow commands do without."""

    def handler(args: argparse.Namespace) -> int:
        from pipeline import commands

        return getattr(commands, name)(args)

    return handler


def _local_commands(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the pipeline locally (LocalDagRunner, Beam DirectRunner)")
    run.add_argument(
        "--config", default=DEFAULT_CONFIG, help="YAML config (default: bundled taxi config)"
    )
    run.add_argument(
        "--data", help="folder of CSV files with the config's columns (default: the config's data)"
    )
    run.add_argument(
        "--home",
        default=DEFAULT_HOME,
        help=f"metadata, artifacts, serving, runs (default: {DEFAULT_HOME})",
    )
    run.add_argument(
        "--wait", type=float, default=0, help="seconds to wait for another run's lock (default 0)"
    )
    run.add_argument("--no-cache", action="store_true", help="rerun every component")
    run.set_defaults(func=_local("cmd_run"))

    retrain = sub.add_parser(
        "retrain", help="scheduled retraining on the newest span(s), safe under cron"
    )
    retrain.add_argument("--config", default=RETRAIN_CONFIG, help="YAML config")
    retrain.add_argument("--data", help="folder of span-<N>/ folders of CSV files")
    retrain.add_argument("--home", default=DEFAULT_HOME, help=f"(default: {DEFAULT_HOME})")
    retrain.add_argument(
        "--wait", type=float, default=0, help="seconds to wait for another run's lock (default 0)"
    )
    retrain.add_argument("--no-cache", action="store_true", help="rerun every component")
    retrain.set_defaults(func=_local("cmd_retrain"))

    make_spans = sub.add_parser(
        "make-spans", help="split a CSV (default: the taxi sample) into span-<N> folders"
    )
    make_spans.add_argument("--out", required=True, help="folder to write span-1 .. span-N into")
    make_spans.add_argument("--count", type=int, default=3)
    make_spans.add_argument("--csv", help="source CSV (default: the bundled taxi sample)")
    make_spans.set_defaults(func=_local("cmd_make_spans"))
    scoring.add_command(sub, DEFAULT_HOME)
    report.add_command(sub, DEFAULT_HOME)


def build_parser() -> argparse.ArgumentParser:
    from kubeflow.cli import add_commands

    parser = argparse.ArgumentParser(prog="multihead", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _local_commands(sub)
    add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_known_warnings()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
