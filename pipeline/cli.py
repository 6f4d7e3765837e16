"""The `multihead` command line."""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
import time
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEFAULT_HOME = ".multihead"
PROJECT_PACKAGES = {"pipeline", "components", "trainer_module", "kubeflow"}

# google.api_core warns on every import under Python 3.10, which TFX 1.16 needs.
warnings.filterwarnings(
    "ignore", message="You are using a non-supported Python version", category=FutureWarning
)
# Deprecation notices of Google client libraries that TFX imports; not ours to act on.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")


def _setup_logging(home: str) -> tuple[str, object]:
    """All library logs go to a file under home; stdout gets progress only."""
    from absl import logging as absl_logging

    from pipeline.progress import ComponentProgress

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


def _last_error_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text}"


def _execute(config, data_dir: str, files: list[str], home: str, args, extra: dict) -> int:
    """Runs the pipeline locally, writes and prints the summary."""
    log_file, progress = _setup_logging(home)
    print(
        f"pipeline {config.name}: {len(config.heads)} heads, {len(files)} CSV file(s) in {data_dir}"
    )
    print(f"home {home}; full log in {log_file}")

    from pipeline.local_runner import metadata_path, run_local
    from pipeline.summary import build_summary, format_table, write_summary

    started = time.monotonic()
    try:
        run_local(config, data_dir, home, enable_cache=not args.no_cache)
    except Exception as error:  # a component failed: say which and why
        where = progress.current or "the pipeline"
        logging.getLogger(__name__).exception("run failed")
        print(f"error: {where} failed: {_last_error_line(error)}", file=sys.stderr)
        print(f"(details in {log_file})", file=sys.stderr)
        return 1
    seconds = time.monotonic() - started
    summary = build_summary(metadata_path(home), config.name)
    summary.update(
        config=os.path.abspath(args.config),
        data=data_dir,
        seconds=round(seconds, 1),
        components=progress.durations,
        **extra,
    )
    latest = write_summary(summary, home)
    print(f"pipeline finished in {seconds:.1f}s")
    print(format_table(summary))
    print(f"summary: {latest}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.config import ConfigError, load_config
    from pipeline.preflight import DataError, check_data

    try:
        config = load_config(args.config)
        data_dir = os.path.abspath(args.data or config.data_dir)
        files = check_data(config, data_dir)
    except (ConfigError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    home = os.path.abspath(args.home)
    os.makedirs(home, exist_ok=True)
    return _execute(config, data_dir, files, home, args, {})


def cmd_retrain(args: argparse.Namespace) -> int:
    from pipeline import spans
    from pipeline.config import ConfigError, load_config
    from pipeline.lock import LockBusy, home_lock
    from pipeline.preflight import DataError, check_data

    home = os.path.abspath(args.home)
    try:
        config = load_config(args.config)
        data_root = os.path.abspath(args.data or config.data_dir)
        found = spans.find_spans(data_root)
    except (ConfigError, spans.SpanError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
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
            try:
                files = check_data(config, staged)
            except DataError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            print(f"spans {chosen} of {data_root}")
            return _execute(config, staged, files, home, args, {"spans": chosen})
    except LockBusy as error:
        print(f"error: {error}", file=sys.stderr)
        return 3


def cmd_compile(args: argparse.Namespace) -> int:
    from kubeflow.compile import compile_pipeline
    from pipeline.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = args.output or f"{config.name}.{args.format}"
    if args.data is None and "://" not in config.data_dir:
        print(
            f"note: data-root defaults to {config.data_dir}, a path on this machine; "
            "pass --data gs://... here or data-root=... when submitting",
            file=sys.stderr,
        )
    if not output.endswith(f".{args.format}"):
        print(f"error: --output {output!r} must end in .{args.format}", file=sys.stderr)
        return 2
    compile_pipeline(
        config,
        output,
        image=args.image,
        pipeline_root=args.pipeline_root,
        data_root=args.data,
        serving_root=args.serving_root,
    )
    from pipeline.config import resolve_function

    for column in config.derived:
        module = resolve_function(column.function).__module__
        if module.split(".")[0] not in PROJECT_PACKAGES:
            print(
                f"note: derived column {column.name!r} calls {module}, which is not part of "
                "this project: install it in the image too (extend kubeflow/Dockerfile)",
                file=sys.stderr,
            )
    kind = "KFP PipelineSpec (schema 2.1.0)" if args.format == "yaml" else "Vertex PipelineJob"
    print(f"wrote {output}: {kind} of pipeline {config.name}, image {args.image}")
    return 0


def cmd_make_spans(args: argparse.Namespace) -> int:
    from pipeline.config import CONFIG_DIR
    from pipeline.spans import split_into_spans

    source = args.csv or os.path.join(os.path.dirname(CONFIG_DIR), "data", "taxi", "data.csv")
    for folder in split_into_spans(source, args.out, args.count):
        print(f"wrote {folder}")
    return 0


def _package(args: argparse.Namespace, folder: str) -> tuple[str, str] | int:
    """The compiled YAML to send: --package as given, or compiled now."""
    from pipeline.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.package:
        return args.package, config.name
    from kubeflow.compile import compile_pipeline

    path = os.path.join(folder, f"{config.name}.yaml")
    compile_pipeline(
        config, path, image=args.image, pipeline_root=args.pipeline_root, data_root=args.data
    )
    return path, config.name


def cmd_kfp(args: argparse.Namespace) -> int:
    import tempfile

    from kubeflow import client

    try:
        params = client.parse_params(args.param)
        if args.command == "schedule":
            client.validate_cron(args.cron)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        package = _package(args, folder)
        if isinstance(package, int):
            return package
        path, name = package
        try:
            if args.command == "submit":
                done = client.submit(args.host, path, name, args.experiment, params)
                print(f"started run {done.run_id} of {name} on {args.host}")
                print(f"pipeline {done.pipeline_id}, version {done.version_id}")
            else:
                done = client.schedule(
                    args.host, path, name, args.cron, args.experiment, params, args.max_concurrency
                )
                print(f"scheduled {name} on {args.host} with cron {args.cron!r}")
                print(
                    f"recurring run {done.recurring_run_id}, "
                    f"max concurrency {args.max_concurrency}, caching off"
                )
        except (client.KubeflowError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


def _kfp_options(command: argparse.ArgumentParser, default_config: str) -> None:
    from kubeflow.settings import DEFAULT_IMAGE, DEFAULT_PIPELINE_ROOT

    command.add_argument(
        "--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080"
    )
    command.add_argument("--experiment", default="tfx-multihead", help="KFP experiment name")
    command.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="runtime parameter, e.g. data-root=gs://bucket/data (repeatable)",
    )
    command.add_argument("--package", help="a compiled YAML to send instead of compiling now")
    command.add_argument("--config", default=default_config, help="YAML config")
    command.add_argument("--image", default=DEFAULT_IMAGE, help="container image")
    command.add_argument("--pipeline-root", default=DEFAULT_PIPELINE_ROOT, help="artifact root URI")
    command.add_argument("--data", help="default of the data-root parameter (a URI)")
    command.set_defaults(func=cmd_kfp)


def build_parser() -> argparse.ArgumentParser:
    from pipeline.config import DEFAULT_CONFIG, RETRAIN_CONFIG

    parser = argparse.ArgumentParser(prog="multihead", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline locally (LocalDagRunner, Beam DirectRunner)")
    run.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help="YAML config (default: bundled taxi config)",
    )
    run.add_argument(
        "--data",
        help="folder of CSV files with the config's columns (default: the config's data)",
    )
    run.add_argument(
        "--home",
        default=DEFAULT_HOME,
        help=f"metadata, artifacts, serving, runs (default: {DEFAULT_HOME})",
    )
    run.add_argument("--no-cache", action="store_true", help="rerun every component")
    run.set_defaults(func=cmd_run)

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
    retrain.set_defaults(func=cmd_retrain)

    make_spans = sub.add_parser(
        "make-spans", help="split a CSV (default: the taxi sample) into span-<N> folders"
    )
    make_spans.add_argument("--out", required=True, help="folder to write span-1 .. span-N into")
    make_spans.add_argument("--count", type=int, default=3)
    make_spans.add_argument("--csv", help="source CSV (default: the bundled taxi sample)")
    make_spans.set_defaults(func=cmd_make_spans)

    from kubeflow.settings import DEFAULT_IMAGE, DEFAULT_PIPELINE_ROOT

    comp = sub.add_parser("compile", help="compile for Kubeflow Pipelines (YAML) or Vertex (JSON)")
    comp.add_argument("--config", default=DEFAULT_CONFIG, help="YAML config")
    comp.add_argument("--output", help="output file (default: <pipeline name>.<format>)")
    comp.add_argument("--format", choices=["yaml", "json"], default="yaml")
    comp.add_argument(
        "--image", default=DEFAULT_IMAGE, help="container image (kubeflow/Dockerfile)"
    )
    comp.add_argument("--pipeline-root", default=DEFAULT_PIPELINE_ROOT, help="artifact root URI")
    comp.add_argument("--data", help="default of the data-root runtime parameter (a URI)")
    comp.add_argument(
        "--serving-root", help="default of the serving-root parameter (<root>/serving/<name>)"
    )
    comp.set_defaults(func=cmd_compile)

    submit = sub.add_parser("submit", help="upload the pipeline to Kubeflow and start a run")
    _kfp_options(submit, DEFAULT_CONFIG)
    sched = sub.add_parser("schedule", help="upload the pipeline and create a recurring run")
    _kfp_options(sched, DEFAULT_CONFIG)
    sched.add_argument(
        "--cron",
        required=True,
        help="KFP cron, 6 fields, seconds first: '0 0 3 * * *' is 03:00 every day",
    )
    sched.add_argument("--max-concurrency", type=int, default=1, help="runs at once (default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
