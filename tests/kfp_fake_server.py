"""A stand-in for the KFP v2beta1 REST API on 127.0.0.1, recording requests.

It answers the endpoints `multihead submit`, `schedule` and `follow` use,
enough for the kfp SDK's client to parse the answers. Like a secured
multi-user host it can require a bearer token (401 without a known one, 403
for a namespace the token may not use), serve HTTPS with a certificate the
test made, and move a run through task states, one step per look at the
run. `fail` makes chosen routes answer with an error status.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

API = "/apis/v2beta1"


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict
    body: bytes
    headers: dict

    def json(self) -> dict:
        return json.loads(self.body)


def free_port() -> int:
    """A port nothing listens on (for an unreachable host)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def task(name: str, state: str, pod: str | None = None, error: str | None = None) -> dict:
    """One v2beta1 PipelineTaskDetail as the host reports it."""
    detail = {"task_id": f"t-{name}", "display_name": name, "state": state}
    if pod:
        detail["child_tasks"] = [{"pod_name": pod}]
    if error:
        detail["error"] = {"code": 2, "message": error}
    return detail


def progress(names: list[str], fail: str | None = None, cached: tuple[str, ...] = ()) -> list[dict]:
    """Run snapshots: pending, then each task running and done in turn.

    `fail` names a task that fails (the run fails with it); `cached` names
    tasks the host serves from its cache (SKIPPED). A driver task that is
    not a pipeline task runs beside every task, as on KFP.
    """
    snapshots = [{"state": "PENDING", "tasks": []}]
    done: list[dict] = []
    for name in names:
        if name in cached:
            done.append(task(name, "SKIPPED"))
            snapshots.append({"state": "RUNNING", "tasks": list(done)})
            continue
        pod = f"taxi-run-{name.lower()}-pod"
        driver = task(f"{name.lower()}-driver", "SUCCEEDED")
        snapshots.append({"state": "RUNNING", "tasks": [*done, driver, task(name, "RUNNING", pod)]})
        if name == fail:
            failed = task(name, "FAILED", pod, error="The executor exited with code 1")
            snapshots.append({"state": "FAILED", "tasks": [*done, driver, failed]})
            return snapshots
        done += [driver, task(name, "SUCCEEDED", pod)]
        snapshots.append({"state": "RUNNING", "tasks": list(done)})
    snapshots.append({"state": "SUCCEEDED", "tasks": list(done)})
    return snapshots


class FakeKfp:
    def __init__(
        self,
        existing_pipeline: bool = False,
        fail: dict | None = None,
        tokens: dict[str, set[str]] | None = None,
        tls: tuple[str, str] | None = None,
        runs: list[dict] | None = None,
        port: int = 0,
    ):
        """tokens: token -> namespaces it may use (None: an open host).
        tls: (certificate, key) PEM files to serve HTTPS with.
        runs: snapshots of the run (see `progress`); the last one stays.
        port: the port to listen on (0: any free one)."""
        self.requests: list[Request] = []
        self.existing_pipeline = existing_pipeline
        self.fail = fail or {}  # (method, path) -> status
        self.tokens = tokens
        self.snapshots = runs or [{"state": "RUNNING", "tasks": []}]
        self.looks = 0
        self.spec: dict | None = None
        self.namespaces: dict[str, str | None] = {}  # experiment or run id -> namespace
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeKfp:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def _denied(self, request: Request, namespace: str | None) -> tuple[int, dict] | None:
        """401 for no or an unknown token (bearer or session cookie), 403 for a
        namespace it may not use."""
        if self.tokens is None:
            return None
        header = request.headers.get("authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        for cookie in request.headers.get("cookie", "").split(";"):
            name, _, value = cookie.strip().partition("=")
            if name == "authservice_session" and token is None:
                token = value  # a session cookie, as Kubeflow's auth service sets
        if token not in self.tokens:
            return 401, {"code": 16, "message": "Request header error: there is no user identity"}
        if namespace is not None and namespace not in self.tokens[token]:
            return 403, {
                "code": 7,
                "message": f"User 'ci@example.com' is not authorized in namespace '{namespace}'",
            }
        return None

    def _namespace_of(self, request: Request) -> str | None:
        """The namespace a request acts in, as a multi-user host would see it."""
        if "namespace" in request.query:
            return request.query["namespace"][0]
        if request.method == "POST" and request.path == f"{API}/experiments":
            return request.json().get("namespace")
        if request.method == "POST" and request.path in (f"{API}/runs", f"{API}/recurringruns"):
            return self.namespaces.get(request.json().get("experiment_id"))
        if request.path.startswith(f"{API}/runs/"):
            return self.namespaces.get(request.path.rsplit("/", 1)[1])
        return None

    def _run(self) -> dict:
        snapshot = self.snapshots[min(self.looks, len(self.snapshots) - 1)]
        self.looks += 1
        return {
            "run_id": "r-1",
            "display_name": "taxi-multihead-run",
            "experiment_id": "e-1",
            "state": snapshot["state"],
            "pipeline_version_reference": {"pipeline_id": "p-1", "pipeline_version_id": "v-1"},
            "run_details": {"task_details": snapshot["tasks"]},
        }

    def answer(self, request: Request) -> tuple[int, dict]:
        route = (request.method, request.path)
        if route in self.fail:
            return self.fail[route], {"error": "denied", "message": "denied by test server"}
        denied = self._denied(request, self._namespace_of(request))
        if denied:
            return denied
        if route == ("GET", f"{API}/healthz"):
            return 200, {"multi_user": self.tokens is not None}
        if route == ("GET", f"{API}/pipelines"):
            if self.existing_pipeline:
                return 200, {
                    "pipelines": [{"pipeline_id": "p-1", "display_name": "x"}],
                    "total_size": 1,
                }
            return 200, {}
        if route == ("POST", f"{API}/pipelines/upload"):
            self.spec = _uploaded_spec(request.body)
            return 200, {"pipeline_id": "p-1", "display_name": request.query.get("name", [""])[0]}
        if route == ("GET", f"{API}/pipelines/p-1/versions"):
            return 200, {
                "pipeline_versions": [{"pipeline_id": "p-1", "pipeline_version_id": "v-1"}]
            }
        if route == ("GET", f"{API}/pipelines/p-1/versions/v-1"):
            return 200, {
                "pipeline_id": "p-1",
                "pipeline_version_id": "v-1",
                "pipeline_spec": self.spec,
            }
        if route == ("POST", f"{API}/pipelines/upload_version"):
            self.spec = _uploaded_spec(request.body)
            return 200, {"pipeline_id": "p-1", "pipeline_version_id": "v-2"}
        if route == ("GET", f"{API}/experiments"):
            return 200, {}
        if route == ("POST", f"{API}/experiments"):
            body = request.json()
            self.namespaces["e-1"] = body.get("namespace")
            return 200, {"experiment_id": "e-1", "display_name": body["display_name"]}
        if route == ("POST", f"{API}/runs"):
            self.namespaces["r-1"] = self.namespaces.get(request.json().get("experiment_id"))
            return 200, {"run_id": "r-1", "display_name": request.json()["display_name"]}
        if route == ("GET", f"{API}/runs/r-1"):
            return 200, self._run()
        if route == ("POST", f"{API}/recurringruns"):
            return 200, {"recurring_run_id": "rr-1", "display_name": request.json()["display_name"]}
        return 404, {"message": f"no route {route}"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                parsed = urllib.parse.urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    parsed.path,
                    urllib.parse.parse_qs(parsed.query),
                    self.rfile.read(length),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                fake.requests.append(request)
                status, body = fake.answer(request)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args):
                pass

        return Handler


def _uploaded_spec(body: bytes) -> dict | None:
    """The PipelineSpec inside a multipart upload body."""
    text = body.decode(errors="replace")
    if "\r\n\r\n" not in text:
        return None
    return yaml.safe_load(text.split("\r\n\r\n", 1)[1].rsplit("\r\n--", 1)[0])
