"""A scripted Kubernetes-speaking HTTP server on 127.0.0.1, for testing the retry policy.

Each request is answered by the next scripted action for its (method, path) — ``ok``, a status
(``Status(503, retry_after=2)``), ``RESET`` (the request is read, then the connection is reset with
a TCP RST), ``APPLY_THEN_RESET`` (the request takes effect, then the reset: the client cannot know
it was applied), ``CUT`` (the headers promise more body
than is sent before the connection closes) — and by ``ok`` once the script runs out. Every request is
recorded with its arrival time (monotonic, server side), method, path, query and body, so tests
assert on what the server saw, not on the client's clock.

The ``ok`` answers are minimal but real Kubernetes objects: Node, PodList, Pod, Eviction (which
marks the pod terminating), SubjectAccessReview (allowed).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

RESET = "reset"
APPLY_THEN_RESET = "apply-then-reset"
CUT = "cut"
OK = "ok"


@dataclass(frozen=True)
class Status:
    """Answer with this HTTP status (a Kubernetes ``Status`` body), optionally with ``Retry-After``."""

    code: int
    retry_after: str | None = None
    message: str = "scripted failure"


@dataclass
class Seen:
    """One request as the server received it."""

    at: float
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class FlakyApi:
    """The server's script, its record, and the pods it knows (``namespace/name`` → Pod)."""

    script: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def add_script(self, method: str, path: str, *actions: Any) -> None:
        """Answer the next requests of ``method path`` with ``actions``, in order."""
        with self.lock:
            self.script.setdefault((method, path), []).extend(actions)

    def requests(self, method: str, path: str) -> list[Seen]:
        """What arrived for ``method path``."""
        with self.lock:
            return [s for s in self.seen if s.method == method and s.path == path]

    def add_pod(self, namespace: str, name: str, uid: str) -> None:
        """A running pod the list and eviction routes know."""
        self.pods[f"{namespace}/{name}"] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": uid, "resourceVersion": "7"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": "Running"},
        }

    def start(self, port: int = 0) -> None:
        """Serve on 127.0.0.1 (``port`` 0: a free one) from a daemon thread."""
        api = self

        class Handler(_Handler):
            flaky = api

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name="flaky-api", daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def kubeconfig(self, folder: Path, port: int | None = None) -> Path:
        """A kubeconfig (context ``flaky``) for ``http://127.0.0.1:<port>`` with a dummy token."""
        path = folder / "flaky.kubeconfig"
        server = f"http://127.0.0.1:{port or self.port}"
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "flaky", "cluster": {"server": server}}],
            "users": [{"name": "flaky", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "flaky", "context": {"cluster": "flaky", "user": "flaky"}}],
            "current-context": "flaky",
        }
        path.write_text(yaml.safe_dump(doc))
        return path


class _Handler(BaseHTTPRequestHandler):
    flaky: FlakyApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self.flaky.lock:
            self.flaky.seen.append(Seen(time.monotonic(), self.command, parts.path, parse_qs(parts.query), body))
            queue = self.flaky.script.get((self.command, parts.path)) or []
            action = queue.pop(0) if queue else OK
        if action == APPLY_THEN_RESET:
            self._answer(parts.path, parse_qs(parts.query), body)
        if action in (RESET, APPLY_THEN_RESET):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if isinstance(action, Status):
            doc = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": action.message}
            doc["code"] = action.code
            headers = {"Retry-After": action.retry_after} if action.retry_after else {}
            self._send(action.code, doc, headers)
            return
        answer = self._answer(parts.path, parse_qs(parts.query), body)
        if action == CUT:
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data) + 100))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(201 if self.command == "POST" else 200, answer)

    def _answer(self, path: str, query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        segments = path.strip("/").split("/")
        if path.endswith("subjectaccessreviews"):
            return {**(body or {}), "status": {"allowed": True}}
        if path.endswith("/eviction"):
            key = f"{segments[-4]}/{segments[-2]}"
            with self.flaky.lock:
                pod = self.flaky.pods.get(key)
                if pod is not None:
                    pod["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
                    pod["metadata"]["resourceVersion"] = str(int(pod["metadata"]["resourceVersion"]) + 1)
            return {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}
        if segments[-1] == "pods":  # a (namespaced) pod list, or a create
            if self.command == "POST":
                return {**(body or {}), "status": {"phase": "Pending"}}
            selector = (query.get("fieldSelector") or [""])[0]
            with self.flaky.lock:
                items = [
                    json.loads(json.dumps(p))
                    for p in self.flaky.pods.values()
                    if not selector.startswith("metadata.name=") or p["metadata"]["name"] == selector.split("=", 1)[1]
                ]
            return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": items}
        if len(segments) >= 4 and segments[-2] == "nodes":
            name = segments[-1]
            return {"kind": "Node", "apiVersion": "v1", "metadata": {"name": name, "uid": f"uid-{name}"}, "spec": {}}
        return {"kind": "Status", "apiVersion": "v1", "status": "Success"}

    def _send(self, code: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle
