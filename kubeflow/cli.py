"""The Kubeflow commands of `multihead`: `compile`, `submit`, `schedule`, `follow`.

Handlers return 0 or raise a pipeline.errors type (bad config or option 2,
host error 1); `pipeline.cli.main` maps them to exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import yaml

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


def _connection(args: argparse.Namespace):
    """The connection and experiment from options, environment and settings."""
    from kubeflow.client import DEFAULT_EXPERIMENT
    from kubeflow.connection import load_settings, resolve

    _, settings = load_settings(args.settings)
    connection = resolve(
        host=args.host,
        namespace=args.namespace,
        token_file=args.token_file,
        cookie_file=args.cookie_file,
        ca_cert=args.ca_cert,
        settings=settings,
    )
    experiment = getattr(args, "experiment", None) or settings.get("experiment")
    return connection, experiment or DEFAULT_EXPERIMENT


def _where(connection) -> str:
    namespace = f", namespace {connection.namespace}" if connection.namespace else ""
    return f"{connection.host}{namespace}"


def _follow(connection, run_id: str, args: argparse.Namespace, tasks=None) -> int:
    from kubeflow.follow import Follower, parse_duration

    timeout = parse_duration(args.timeout) if args.timeout else None
    if args.poll <= 0:
        raise UsageError(f"--poll must be more than 0 seconds, got {args.poll}")
    Follower(
        connection.kfp_client(), connection, run_id, timeout=timeout, poll=args.poll, tasks=tasks
    ).run()
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from kubeflow import client
    from kubeflow.follow import parse_duration, spec_tasks

    params = client.parse_params(args.param)
    if args.timeout and not args.wait:
        raise UsageError("--timeout bounds --wait; add --wait")
    if args.timeout:
        parse_duration(args.timeout)
    connection, experiment = _connection(args)
    with tempfile.TemporaryDirectory() as folder:
        path, name = _package(args, folder)
        with open(path) as f:
            tasks = spec_tasks(yaml.safe_load(f))
        done = client.submit(connection, path, name, experiment, params)
    print(f"started run {done.run_id} of {name} on {_where(done.connection)}")
    print(f"pipeline {done.pipeline_id}, version {done.version_id}")
    if not args.wait:
        return 0
    return _follow(done.connection, done.run_id, args, tasks)


def cmd_follow(args: argparse.Namespace) -> int:
    from kubeflow.host import check_host

    connection, _ = _connection(args)
    return _follow(check_host(connection), args.run_id, args)


def cmd_schedule(args: argparse.Namespace) -> int:
    from kubeflow import client

    params = client.parse_params(args.param)
    client.validate_cron(args.cron)
    connection, experiment = _connection(args)
    with tempfile.TemporaryDirectory() as folder:
        path, name = _package(args, folder)
        done = client.schedule(
            connection, path, name, args.cron, experiment, params, args.max_concurrency
        )
    print(f"scheduled {name} on {_where(done.connection)} with cron {args.cron!r}")
    print(
        f"recurring run {done.recurring_run_id}, "
        f"max concurrency {args.max_concurrency}, caching off"
    )
    return 0


def _connection_options(command: argparse.ArgumentParser) -> None:
    from kubeflow.connection import DEFAULT_SETTINGS, SETTINGS_ENV, TOKEN_PATH_ENV

    command.add_argument(
        "--host", help="KFP API endpoint, e.g. https://kubeflow.example.com/pipeline"
    )
    command.add_argument("--namespace", help="profile namespace on multi-user Kubeflow")
    command.add_argument(
        "--token-file",
        help=f"file holding a bearer token (default: ${TOKEN_PATH_ENV}, as the kfp SDK)",
    )
    command.add_argument(
        "--cookie-file", help="file holding a session cookie, e.g. authservice_session=..."
    )
    command.add_argument("--ca-cert", help="PEM file of the CA that signed the host's certificate")
    command.add_argument(
        "--settings",
        help=f"YAML of the keys above (default: ${SETTINGS_ENV} or {DEFAULT_SETTINGS})",
    )


def _follow_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--timeout", help="stop following after this long (600, 45m, 2h); the run goes on"
    )
    command.add_argument(
        "--poll", type=float, default=10.0, help="seconds between looks at the run (default 10)"
    )


def _host_options(command: argparse.ArgumentParser) -> None:
    _connection_options(command)
    command.add_argument(
        "--experiment", help="KFP experiment (default: the settings file's, else tfx-multihead)"
    )
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
    """Adds compile, submit, follow and schedule to the `multihead` parser."""
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
    submit.add_argument(
        "--wait", action="store_true", help="follow the run to its end; exit 0 only if it succeeded"
    )
    _follow_options(submit)
    submit.set_defaults(func=cmd_submit)
    follow = sub.add_parser("follow", help="follow a Kubeflow run to its end")
    follow.add_argument("run_id", help="the run's id (printed by submit)")
    _connection_options(follow)
    _follow_options(follow)
    follow.set_defaults(func=cmd_follow)
    sched = sub.add_parser("schedule", help="upload the pipeline and create a recurring run")
    _host_options(sched)
    sched.add_argument(
        "--cron",
        required=True,
        help="KFP cron, 6 fields, seconds first: '0 0 3 * * *' is 03:00 every day",
    )
    sched.add_argument("--max-concurrency", type=int, default=1, help="runs at once (default 1)")
    sched.set_defaults(func=cmd_schedule)
