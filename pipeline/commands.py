"""The local commands: `run`, `retrain` and `make-spans`.

Each handler returns 0 or raises a pipeline.errors type; `pipeline.cli.main`
maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from typing import Any

from components.serving import serving_dir
from pipeline import spans
from pipeline.config import PipelineConfig
from pipeline.config_file import TAXI_CSV, load_config
from pipeline.errors import ComponentFailed, ConfigError, UsageError
from pipeline.lock import home_lock
from pipeline.preflight import check_data


def _last_error_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text}"


def execute(
    config: PipelineConfig,
    data_dir: str,
    files: list[str],
    home: str,
    args: argparse.Namespace,
    extra: dict[str, Any],
) -> int:
    """Runs the pipeline locally, writes and prints the summary.

    Raises:
      ComponentFailed: naming the component, its error and the log file.
    """
    from pipeline.local_runner import metadata_path, run_local
    from pipeline.logs import log_to_file
    from pipeline.summary import build_summary, write_summary
    from pipeline.summary_text import format_table

    log_file, progress = log_to_file(home)
    print(
        f"pipeline {config.name}: {len(config.heads)} heads, {len(files)} CSV file(s) in {data_dir}"
    )
    print(f"home {home}; full log in {log_file}")
    started = time.monotonic()
    try:
        run_local(config, data_dir, home, enable_cache=not args.no_cache)
    except Exception as error:  # a component failed: say which and why
        where = progress.current or "the pipeline"
        logging.getLogger(__name__).exception("run failed")
        raise ComponentFailed(
            f"{where} failed: {_last_error_line(error)}\n(details in {log_file})"
        ) from error
    seconds = time.monotonic() - started
    summary = build_summary(metadata_path(home), config.name, serving_dir(home, config.name))
    summary.update(
        config=os.path.abspath(args.config),
        data=data_dir,
        seconds=round(seconds, 1),
        components=progress.durations,
        **extra,
    )
    print(f"pipeline finished in {seconds:.1f}s")
    print(format_table(summary))
    summary["report"] = _report(summary, home)
    latest = write_summary(summary, home)
    print(f"summary: {latest}")
    return 0


def _report(summary: dict[str, Any], home: str) -> str | None:
    """Writes the run's report; a report that fails is said, never fails the
    run (whatever was pushed stays pushed)."""
    from pipeline.report.build import write_report

    started = time.monotonic()
    try:
        page = write_report(summary, home, progress=lambda text: None)
    except Exception as error:  # the run's outcome stands without its report
        logging.getLogger(__name__).exception("report failed")
        print(
            f"report not written: {_last_error_line(error)}; "
            f"rebuild it with: multihead report --home {home} --run {summary['run_id']}"
        )
        return None
    print(f"report: {page} ({time.monotonic() - started:.1f}s)")
    return page


def check_frozen_heads(config: PipelineConfig, home: str) -> None:
    """Before any component runs: the frozen heads can be served from the
    version the lookup will find (the newest that loads).

    Raises:
      ConfigError: naming the head and why (freeze.py).
    """
    if not config.frozen:
        return
    from components import serving
    from trainer_module.freeze import FreezeError, check_frozen

    folder = serving_dir(home, config.name)
    version, skipped = serving.newest_loadable(folder)
    if version is None and skipped:
        why = "; ".join(f"version {v}: {problem}" for v, problem in sorted(skipped.items()))
        raise ConfigError(
            f"heads {config.frozen} are frozen, but no version served under {folder} loads "
            f"({why}): a frozen head is served from the served model"
        )
    served = None if version is None else serving.version_dir(folder, version)
    try:
        check_frozen(config.model_spec(), served, f"served version {version}")
    except FreezeError as error:
        raise ConfigError(str(error)) from None


def writable_home(path: str) -> str:
    """The home folder, made if needed, after checking that it can be written.

    Raises:
      UsageError: naming the folder and the reason.
    """
    home = os.path.abspath(path)
    try:
        os.makedirs(home, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        raise UsageError(
            f"cannot write to the home folder {home}: {error.strerror or error}; "
            "pass --home with a folder you can write to"
        ) from None
    return home


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    data_dir = os.path.abspath(args.data or config.data_dir)
    files = check_data(config, data_dir)
    home = writable_home(args.home)
    with home_lock(home, wait_seconds=args.wait):
        check_frozen_heads(config, home)
        return execute(config, data_dir, files, home, args, {})


def cmd_retrain(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    data_root = os.path.abspath(args.data or config.data_dir)
    found = spans.find_spans(data_root)
    home = writable_home(args.home)
    with home_lock(home, wait_seconds=args.wait):
        chosen = spans.newest(found, config.retraining.spans)
        served_spans, served_model = spans.last_pushed_spans(home)
        if (
            config.retraining.skip_without_new_span
            and served_spans
            and max(chosen) <= max(served_spans)
        ):
            print(
                f"no new span since the last pushed model ({served_model}, span "
                f"{max(served_spans)}; newest in {data_root} is {max(chosen)}): nothing to do"
            )
            return 0
        staged = spans.stage(found, chosen, home)
        files = check_data(config, staged)
        check_frozen_heads(config, home)
        print(f"spans {chosen} of {data_root}")
        return execute(config, staged, files, home, args, {"spans": chosen})


def cmd_make_spans(args: argparse.Namespace) -> int:
    for folder in spans.split_into_spans(args.csv or TAXI_CSV, args.out, args.count):
        print(f"wrote {folder}")
    return 0
