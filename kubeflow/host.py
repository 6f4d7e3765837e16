"""Talking to a Kubeflow Pipelines host: the first check, and every call's errors.

Every failure becomes one line that says what to do: a refusal names the
host, the status and the credential to pass; an untrusted certificate names
`--ca-cert`; no answer at all is HostUnreachable (which following a run
rides out for a few looks).
"""

from __future__ import annotations

import dataclasses
import json
import ssl
import urllib.error
import urllib.request

from kubeflow.connection import TOKEN_PATH_ENV, Connection, pod_namespace
from pipeline.errors import HostError, UsageError

HEALTHZ_PATH = "/apis/v2beta1/healthz"


class KubeflowError(HostError):
    """Kubeflow Pipelines could not be reached or refused the request."""


class HostUnreachable(KubeflowError):
    """No answer from the host at all (network), as opposed to a refusal."""


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
