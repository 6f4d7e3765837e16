"""A stand-in for the KFP v2beta1 REST API on 127.0.0.1, recording requests.

It answers the endpoints `multihead submit` and `schedule` use, enough for
the kfp SDK's client to parse the answers; `fail` makes chosen routes answer
with an error status.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class FakeKfp:
    def __init__(self, existing_pipeline: bool = False, fail: dict | None = None):
        self.requests: list[Request] = []
        self.existing_pipeline = existing_pipeline
        self.fail = fail or {}  # (method, path) -> status
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeKfp:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def answer(self, request: Request) -> tuple[int, dict]:
        route = (request.method, request.path)
        if route in self.fail:
            return self.fail[route], {"error": "denied", "message": "denied by test server"}
        if route == ("GET", "/apis/v2beta1/healthz"):
            return 200, {"multi_user": False}
        if route == ("GET", "/apis/v2beta1/pipelines"):
            if self.existing_pipeline:
                return 200, {
                    "pipelines": [{"pipeline_id": "p-1", "display_name": "x"}],
                    "total_size": 1,
                }
            return 200, {}
        if route == ("POST", "/apis/v2beta1/pipelines/upload"):
            return 200, {"pipeline_id": "p-1", "display_name": request.query.get("name", [""])[0]}
        if route == ("GET", "/apis/v2beta1/pipelines/p-1/versions"):
            return 200, {
                "pipeline_versions": [{"pipeline_id": "p-1", "pipeline_version_id": "v-1"}]
            }
        if route == ("POST", "/apis/v2beta1/pipelines/upload_version"):
            return 200, {"pipeline_id": "p-1", "pipeline_version_id": "v-2"}
        if route == ("GET", "/apis/v2beta1/experiments"):
            return 200, {}
        if route == ("POST", "/apis/v2beta1/experiments"):
            return 200, {"experiment_id": "e-1", "display_name": request.json()["display_name"]}
        if route == ("POST", "/apis/v2beta1/runs"):
            return 200, {"run_id": "r-1", "display_name": request.json()["display_name"]}
        if route == ("POST", "/apis/v2beta1/recurringruns"):
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
