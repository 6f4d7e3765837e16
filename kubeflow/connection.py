"""Where a Kubeflow Pipelines host is and how to prove who we are to it.

A `Connection` names the host, the profile namespace and the files that hold
the credentials; it never holds a secret itself, so printing or logging it
shows paths only. Sources, first found wins: the command line, the
environment (kfp's own `KF_PIPELINES_SA_TOKEN_PATH`), the settings file,
then the token kubelet projects into a Kubeflow pod.

The token is handed to the kfp SDK as file credentials, so it is read again
on every request (kubelet rotates projected tokens).
"""

from __future__ import annotations

import dataclasses
import os
import ssl

import yaml

from pipeline.errors import UsageError

# kfp's own names (kfp/client/client.py), so one variable serves both tools.
TOKEN_PATH_ENV = "KF_PIPELINES_SA_TOKEN_PATH"
POD_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"
POD_NAMESPACE_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
SETTINGS_ENV = "MULTIHEAD_KUBEFLOW_SETTINGS"
DEFAULT_SETTINGS = os.path.join("~", ".config", "multihead", "kubeflow.yaml")

# Settings keys: the file keys and the command line options they mirror.
_PATH_KEYS = ("token_file", "cookie_file", "ca_cert")
SETTINGS_KEYS = ("host", "namespace", "experiment", *_PATH_KEYS)
_SECRET_KEYS = ("token", "cookie", "cookies", "password", "existing_token")


@dataclasses.dataclass(frozen=True)
class Connection:
    host: str
    namespace: str | None = None
    token_file: str | None = None
    cookie_file: str | None = None
    ca_cert: str | None = None

    def credential(self) -> str:
        """What this connection proves itself with, naming files, never contents."""
        sent = []
        if self.token_file:
            sent.append(f"the token in {self.token_file}")
        if self.cookie_file:
            sent.append(f"the cookie in {self.cookie_file}")
        return " and ".join(sent) or "no credential"

    def token(self) -> str | None:
        return _read_secret(self.token_file, "--token-file") if self.token_file else None

    def cookies(self) -> str | None:
        return _read_secret(self.cookie_file, "--cookie-file") if self.cookie_file else None

    def headers(self) -> dict[str, str]:
        """The credential headers, for the one request made outside the kfp SDK."""
        headers = {}
        token = self.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        cookies = self.cookies()
        if cookies:
            headers["Cookie"] = cookies
        return headers

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.host.startswith("https://"):
            return None
        return ssl.create_default_context(cafile=self.ca_cert)

    def run_url(self, run_id: str) -> str:
        return f"{self.host.rstrip('/')}/#/runs/details/{run_id}"

    def kfp_client(self):
        """A kfp.Client on this connection (token as file credentials)."""
        import kfp
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

        credentials = (
            ServiceAccountTokenVolumeCredentials(self.token_file) if self.token_file else None
        )
        return kfp.Client(
            host=self.host,
            namespace=self.namespace or "kubeflow",  # kfp's "none given"
            credentials=credentials,
            cookies=self.cookies(),
            ssl_ca_cert=self.ca_cert,
        )


def _read_secret(path: str, option: str) -> str:
    try:
        with open(path) as f:
            value = f.read().strip()
    except OSError as error:
        raise UsageError(
            f"{option} {path}: cannot read it ({error.strerror or error}); "
            "name a file holding the credential"
        ) from None
    if not value:
        raise UsageError(f"{option} {path} is empty; write the credential into it")
    return value


def load_settings(path: str | None) -> tuple[str | None, dict]:
    """The settings file (`--settings`, $MULTIHEAD_KUBEFLOW_SETTINGS or the default).

    Returns (the file read or None, its keys with paths made absolute
    relative to the file). A file named explicitly must exist; the default
    one is optional.

    Raises:
      UsageError: unreadable YAML, an unknown key, or a secret written into
        the file itself rather than into a file it names.
    """
    explicit = path or os.environ.get(SETTINGS_ENV)
    path = os.path.expanduser(explicit or DEFAULT_SETTINGS)
    if not os.path.exists(path):
        if explicit:
            raise UsageError(f"settings file {path} does not exist")
        return None, {}
    try:
        with open(path) as f:
            settings = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as error:
        raise UsageError(f"settings file {path}: cannot read it: {error}") from None
    if not isinstance(settings, dict):
        raise UsageError(f"settings file {path}: expected keys {', '.join(SETTINGS_KEYS)}")
    for key in settings:
        if key in _SECRET_KEYS:
            raise UsageError(
                f"settings file {path}: {key!r} would put a secret in the settings; "
                f"write it to a file of its own and name that file with "
                f"{'cookie_file' if key.startswith('cookie') else 'token_file'}"
            )
        if key not in SETTINGS_KEYS:
            raise UsageError(
                f"settings file {path}: unknown key {key!r}; known: {', '.join(SETTINGS_KEYS)}"
            )
    folder = os.path.dirname(os.path.abspath(path))
    for key in _PATH_KEYS:
        if settings.get(key):
            settings[key] = os.path.join(folder, os.path.expanduser(str(settings[key])))
    return path, settings


def resolve(
    host: str | None = None,
    namespace: str | None = None,
    token_file: str | None = None,
    cookie_file: str | None = None,
    ca_cert: str | None = None,
    settings: dict | None = None,
) -> Connection:
    """The connection from options, environment and settings, checked.

    Raises:
      UsageError: no host anywhere, a host that is not an http(s) URL, or a
        CA certificate file that does not exist.
    """
    settings = settings or {}
    host = host or settings.get("host")
    if not host:
        raise UsageError(
            "no Kubeflow Pipelines host: pass --host https://... or set host in the "
            f"settings file ({DEFAULT_SETTINGS})"
        )
    if not host.startswith(("http://", "https://")):
        raise UsageError(f"host {host!r} must start with http:// or https://")
    token_file = (
        token_file
        or os.environ.get(TOKEN_PATH_ENV)
        or settings.get("token_file")
        or (POD_TOKEN_PATH if os.path.exists(POD_TOKEN_PATH) else None)
    )
    ca_cert = ca_cert or settings.get("ca_cert")
    if ca_cert and not os.path.isfile(ca_cert):
        raise UsageError(f"--ca-cert {ca_cert} does not exist; name the CA's PEM file")
    if ca_cert and not host.startswith("https://"):
        raise UsageError(f"--ca-cert is for an https:// host; {host} is plain http")
    return Connection(
        host=host.rstrip("/"),
        namespace=namespace or settings.get("namespace"),
        token_file=token_file,
        cookie_file=cookie_file or settings.get("cookie_file"),
        ca_cert=ca_cert,
    )


def pod_namespace() -> str | None:
    """The namespace of the pod this runs in (a Kubeflow notebook), if any."""
    try:
        with open(POD_NAMESPACE_PATH) as f:
            return f.read().strip() or None
    except OSError:
        return None
