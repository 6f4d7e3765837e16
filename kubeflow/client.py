"""Upload, run and schedule a compiled pipeline on Kubeflow Pipelines (kfp SDK)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import ssl
import tempfile
import urllib.error
import urllib.request

import yaml

from kubeflow.connection import TOKEN_PATH_ENV, Connection, pod_namespace
from pipeline.errors import HostError, UsageError

HEALTHZ_PATH = "/apis/v2beta1/healthz"
DEFAULT_EXPERIMENT = "tfx-multihead"
# KFP cron: seconds minutes hours day-of-month month day-of-week.
_CRON_FIELD = re.compile(
    r"^(\*|\?|[0-9A-Za-z]+([-/,][0-9A-Za-z]+)*|\*/[0-9]+|L|[0-9]+[LW#][0-9]*)$"
)


class KubeflowError(HostError):
    """Kubeflow Pipelines could not be reached or refused the request."""


class HostUnreachable(KubeflowError):
    """No answer from the host at all (network), as opposed to a refusal."""


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


def refused(connection: Connection, what: str, status: int, reason: str, detail: str) -> str:
    """One line for a refusing host: the status, and which credential to pass."""
    host = connection.host
    head = f"{what}: {host} answered {status} {reason}"
    if status == 401:
        if connection.token_file or connection.cookie_file:
            return (
                f"{head}: {connection.credential()} was not accepted (expired, or for "
                "another audience?); pass a current one with --token-file or --cookie-file"
            )
        return (
            f"{head}: no credential was sent; pass a token with --token-file FILE "
            f"(or set {TOKEN_PATH_ENV}), or a session cookie with --cookie-file FILE"
        )
    if status == 403:
        if connection.namespace:
            return f"{head} for namespace {connection.namespace!r}: {detail}"
        return (
            f"{head}: {detail}; {connection.credential()} may not do this: on multi-user "
            "Kubeflow pass --namespace with a profile namespace you may use"
        )
    return f"{head}: {detail}"


def untrusted(connection: Connection, reason: object) -> str:
    """One line for a TLS certificate the client does not trust."""
    why = getattr(reason, "verify_message", None) or str(reason)
    if connection.ca_cert:
        return (
            f"cannot verify the TLS certificate of {connection.host} ({why}): it is not "
            f"signed by --ca-cert {connection.ca_cert}; name the CA that signed it"
        )
    return (
        f"cannot verify the TLS certificate of {connection.host} ({why}): pass the CA "
        "that signed it with --ca-cert FILE (PEM)"
    )


def _is_tls_failure(error: BaseException) -> bool:
    seen = error
    for _ in range(4):
        if isinstance(seen, ssl.SSLError):
            return True
        seen = getattr(seen, "reason", None)
        if seen is None:
            return False
    return False


def check_host(connection: Connection, timeout: float = 10.0) -> Connection:
    """One quick request to the healthz endpoint, so failures say what is wrong.

    Returns the connection with its namespace settled: on a multi-user host
    without --namespace, the namespace of the pod this runs in.

    Raises:
      KubeflowError: unreachable, refusing or untrusted host.
      UsageError: a multi-user host and no namespace to work in.
    """
    url = connection.host + HEALTHZ_PATH
    request = urllib.request.Request(url, headers=connection.headers())
    try:
        with urllib.request.urlopen(
            request, timeout=timeout, context=connection.ssl_context()
        ) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        try:
            detail = json.loads(detail).get("message", detail)
        except (ValueError, AttributeError):
            pass
        raise KubeflowError(
            refused(connection, "Kubeflow Pipelines", error.code, error.reason, detail)
        ) from None
    except (urllib.error.URLError, OSError) as error:
        if _is_tls_failure(error):
            raise KubeflowError(untrusted(connection, getattr(error, "reason", error))) from None
        reason = getattr(error, "reason", error)
        raise HostUnreachable(
            f"cannot reach Kubeflow Pipelines at {connection.host}: {reason}"
        ) from None
    try:
        multi_user = bool(json.loads(body).get("multi_user"))
    except (ValueError, AttributeError):
        multi_user = False
    if multi_user and not connection.namespace:
        namespace = pod_namespace()
        if namespace is None:
            raise UsageError(
                f"{connection.host} is a multi-user Kubeflow: pass --namespace with your "
                "profile's namespace (or set namespace in the settings file)"
            )
        connection = dataclasses.replace(connection, namespace=namespace)
    return connection


def connect(connection: Connection):
    """Checks the host, then returns (the settled connection, a kfp.Client)."""
    connection = check_host(connection)
    return connection, connection.kfp_client()


def call(connection: Connection, what: str, function, *args, **kwargs):
    """Runs a kfp client call, turning API and network errors into KubeflowError."""
    from kfp_server_api.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    try:
        return function(*args, **kwargs)
    except ApiException as error:
        detail = (error.body or "").strip()
        try:
            detail = json.loads(detail).get("message", detail)
        except (ValueError, AttributeError):
            pass
        raise KubeflowError(
            refused(connection, f"{what} failed", error.status, error.reason, detail)
        ) from None
    except Urllib3Error as error:
        if _is_tls_failure(error):
            raise KubeflowError(untrusted(connection, getattr(error, "reason", error))) from None
        raise HostUnreachable(f"{what} failed: cannot reach {connection.host}: {error}") from None


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
