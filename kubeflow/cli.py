"""The Kubeflow commands of `multihead`: `compile`, `submit`, `schedule`.

Handlers return 0 or raise a pipeline.errors type (bad config or option 2,
host error 1); `pipeline.cli.main` maps them to exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from kubeflow.settings import DEFAULT_IMAGE, DEFAULT_PIPELINE_ROOT
from pipeline.config_file import DEFAULT_CONFIG, load_config
from pipeline.errors import UsageError

# Packages of this project, installed in the image; other derived-column
# modules must be added to it.
PROJECT_PACKAGES = {"pipeline", "components", "trainer_module", "kubeflow"}


def _warn_foreign_modules(config) -> None:
    from trainer_module.derived import resolve_function

    for column in config.derived:
        module = resolve_function(column.function).__module__
        if module.split(".")[0] not in PROJECT_PACKAGES:
            print(
                f"note: derived column {column.name!r} calls {module}, which is not part of "
                "this project: install it in the image too (extend kubeflow/Dockerfile)",
                file=sys.stderr,
            )


def cmd_compile(args: argparse.Namespace) -> int:
    from kubeflow.compile import compile_pipeline

    config = load_config(args.config)
    output = args.output or f"{config.name}.{args.format}"
    if not output.endswith(f".{args.format}"):
        raise UsageError(f"--output {output!r} must end in .{args.format}")
    if args.data is None and "://" not in config.data_dir:
        print(
            f"note: data-root defaults to {config.data_dir}, a path on this machine; "
            "pass --data gs://... here or data-root=... when submitting",
            file=sys.stderr,
        )
    compile_pipeline(
        config,
        output,
        image=args.image,
        pipeline_root=args.pipeline_root,
        data_root=args.data,
        serving_root=args.serving_root,
    )
    _warn_foreign_modules(config)
    kind = "KFP PipelineSpec (schema 2.1.0)" if args.format == "yaml" else "Vertex PipelineJob"
    print(f"wrote {output}: {kind} of pipeline {config.name}, image {args.image}")
    return 0


def _package(args: argparse.Namespace, folder: str) -> tuple[str, str]:
    """The compiled YAML to send (--package as given, or compiled now) and its name."""
    config = load_config(args.config)
    if args.package:
        return args.package, config.name
    from kubeflow.compile import compile_pipeline

    path = os.path.join(folder, f"{config.name}.yaml")
    compile_pipeline(
        config, path, image=args.image, pipeline_root=args.pipeline_root, data_root=args.data
    )
    return path, config.name


def cmd_submit(args: argparse.Namespace) -> int:
    from kubeflow import client

    params = client.parse_params(args.param)
    with tempfile.TemporaryDirectory() as folder:
        path, name = _package(args, folder)
        done = client.submit(args.host, path, name, args.experiment, params)
    print(f"started run {done.run_id} of {name} on {args.host}")
    print(f"pipeline {done.pipeline_id}, version {done.version_id}")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from kubeflow import client

    params = client.parse_params(args.param)
    client.validate_cron(args.cron)
    with tempfile.TemporaryDirectory() as folder:
        path, name = _package(args, folder)
        done = client.schedule(
            args.host, path, name, args.cron, args.experiment, params, args.max_concurrency
        )
    print(f"scheduled {name} on {args.host} with cron {args.cron!r}")
    print(
        f"recurring run {done.recurring_run_id}, "
        f"max concurrency {args.max_concurrency}, caching off"
    )
    return 0


def _host_options(command: argparse.ArgumentParser) -> None:
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
    command.add_argument("--config", default=DEFAULT_CONFIG, help="YAML config")
    command.add_argument("--image", default=DEFAULT_IMAGE, help="container image")
    command.add_argument("--pipeline-root", default=DEFAULT_PIPELINE_ROOT, help="artifact root URI")
    command.add_argument("--data", help="default of the data-root parameter (a URI)")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Adds compile, submit and schedule to the `multihead` parser."""
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
    _host_options(submit)
    submit.set_defaults(func=cmd_submit)
    sched = sub.add_parser("schedule", help="upload the pipeline and create a recurring run")
    _host_options(sched)
    sched.add_argument(
        "--cron",
        required=True,
        help="KFP cron, 6 fields, seconds first: '0 0 3 * * *' is 03:00 every day",
    )
    sched.add_argument("--max-concurrency", type=int, default=1, help="runs at once (default 1)")
    sched.set_defaults(func=cmd_schedule)
