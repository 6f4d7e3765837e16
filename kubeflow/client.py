"""Upload, run and schedule a compiled pipeline on Kubeflow Pipelines (kfp SDK)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import tempfile

import yaml

from kubeflow.connection import Connection
from kubeflow.host import KubeflowError, call, connect
from pipeline.errors import UsageError

DEFAULT_EXPERIMENT = "tfx-multihead"
# KFP cron: seconds minutes hours day-of-month month day-of-week.
_CRON_FIELD = re.compile(
    r"^(\*|\?|[0-9A-Za-z]+([-/,][0-9A-Za-z]+)*|\*/[0-9]+|L|[0-9]+[LW#][0-9]*)$"
)


@dataclasses.dataclass
class Submitted:
    pipeline_id: str
    version_id: str
    experiment_id: str
    run_id: str | None = None
    recurring_run_id: str | None = None
    connection: Connection | None = None  # as settled by the host (namespace)


def validate_cron(expression: str) -> str:
    """Checks a KFP cron expression (6 fields, seconds first).

    Raises:
      UsageError: explaining the expected form, with a corrected guess for a
        classic 5-field expression.
    """
    fields = expression.split()
    if len(fields) == 5:
        raise UsageError(
            f"cron {expression!r} has 5 fields; KFP cron has 6, seconds first "
            f"(sec min hour day month weekday): did you mean '0 {expression}'?"
        )
    if len(fields) != 6:
        raise UsageError(
            f"cron {expression!r} has {len(fields)} fields; KFP cron has 6, seconds "
            "first (sec min hour day month weekday), e.g. '0 0 3 * * *' for 03:00 daily"
        )
    for name, value in zip(
        ("seconds", "minutes", "hours", "day", "month", "weekday"), fields, strict=True
    ):
        if not _CRON_FIELD.match(value):
            raise UsageError(f"cron {expression!r}: field {name} {value!r} is not valid")
    return expression


def parse_params(pairs: list[str]) -> dict[str, str]:
    """`["k=v", ...]` -> dict; raises UsageError on a pair without '='."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {pair!r} is not of the form name=value")
        params[key] = value
    return params


def without_cache(package: str, output: str) -> None:
    """Copies a compiled PipelineSpec YAML with caching off for every task.

    KFP applies a run's enable_caching only when it compiles the package
    itself, not to an uploaded pipeline version, so the spec must say it.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    with open(package) as f:
        spec = json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())
    for task in spec.root.dag.tasks.values():
        task.caching_options.enable_cache = False
    with open(output, "w") as f:
        yaml.safe_dump(json_format.MessageToDict(spec), f, sort_keys=True)


def _pipeline_id(client, connection: Connection, name: str) -> str | None:
    """The id of the pipeline called `name` (in the namespace, when there is one)."""
    predicate = {"operation": "EQUALS", "key": "display_name", "stringValue": name}
    found = call(
        connection,
        "looking up the pipeline",
        client.list_pipelines,
        filter=json.dumps({"predicates": [predicate]}),
        namespace=connection.namespace,
    )
    pipelines = found.pipelines or []
    if len(pipelines) > 1:
        raise KubeflowError(
            f"{connection.host} has {len(pipelines)} pipelines called {name!r}; "
            "the name must be unique: delete the extra ones or rename the pipeline"
        )
    return pipelines[0].pipeline_id if pipelines else None


def upload(client, connection: Connection, package: str, name: str) -> tuple[str, str]:
    """Uploads `package` as a new version of pipeline `name`; returns (pipeline, version) ids."""
    pipeline_id = _pipeline_id(client, connection, name)
    if pipeline_id is None:
        pipeline = call(
            connection,
            "uploading the pipeline",
            client.upload_pipeline,
            package,
            pipeline_name=name,
            namespace=connection.namespace,
        )
        pipeline_id = pipeline.pipeline_id
        versions = call(
            connection,
            "listing pipeline versions",
            client.list_pipeline_versions,
            pipeline_id,
            page_size=1,
            sort_by="created_at desc",
        )
        version_id = versions.pipeline_versions[0].pipeline_version_id
    else:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
        version = call(
            connection,
            "uploading a pipeline version",
            client.upload_pipeline_version,
            package,
            pipeline_version_name=f"{name}-{stamp}",
            pipeline_id=pipeline_id,
        )
        version_id = version.pipeline_version_id
    return pipeline_id, version_id


def _experiment_id(client, connection: Connection, experiment: str) -> str:
    result = call(
        connection,
        f"getting experiment {experiment!r}",
        client.create_experiment,
        name=experiment,
        namespace=connection.namespace,
    )
    return result.experiment_id


def submit(
    connection: Connection,
    package: str,
    name: str,
    experiment: str = DEFAULT_EXPERIMENT,
    params: dict | None = None,
) -> Submitted:
    """Uploads the compiled pipeline and starts one run."""
    connection, client = connect(connection)
    pipeline_id, version_id = upload(client, connection, package, name)
    experiment_id = _experiment_id(client, connection, experiment)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    run = call(
        connection,
        "starting the run",
        client.run_pipeline,
        experiment_id=experiment_id,
        job_name=f"{name}-{stamp}",
        pipeline_id=pipeline_id,
        version_id=version_id,
        params=params or {},
    )
    return Submitted(
        pipeline_id, version_id, experiment_id, run_id=run.run_id, connection=connection
    )


def schedule(
    connection: Connection,
    package: str,
    name: str,
    cron: str,
    experiment: str = DEFAULT_EXPERIMENT,
    params: dict | None = None,
    max_concurrency: int = 1,
) -> Submitted:
    """Uploads the compiled pipeline and creates a recurring run.

    Caching is off for the recurring run: its parameters do not change from
    one run to the next, so a cached run would never see new data.
    """
    validate_cron(cron)
    if max_concurrency < 1:
        raise UsageError(f"--max-concurrency must be at least 1, got {max_concurrency}")
    connection, client = connect(connection)
    with tempfile.TemporaryDirectory() as folder:
        uncached = os.path.join(folder, os.path.basename(package))
        without_cache(package, uncached)
        pipeline_id, version_id = upload(client, connection, uncached, name)
    experiment_id = _experiment_id(client, connection, experiment)
    recurring = call(
        connection,
        "creating the recurring run",
        client.create_recurring_run,
        experiment_id=experiment_id,
        job_name=f"{name}-schedule",
        cron_expression=cron,
        max_concurrency=max_concurrency,
        pipeline_id=pipeline_id,
        version_id=version_id,
        params=params or {},
    )
    return Submitted(
        pipeline_id,
        version_id,
        experiment_id,
        recurring_run_id=recurring.recurring_run_id,
        connection=connection,
    )
