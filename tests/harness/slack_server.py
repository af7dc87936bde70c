"""A local Slack-compatible Web API server on 127.0.0.1 that records every call.

It speaks the Web API's wire format (``POST /api/<method>`` with form or JSON bodies, ``GET``
with a query string; ``{"ok": true, ...}`` answers) so the real slack_sdk ``WebClient`` talks to
it through ``base_url``. Response URLs (``/response/<id>``) are recorded the same way.
``enable_socket_mode()`` adds the WebSocket side: ``apps.connections.open`` (app token only)
then hands out URLs of a local ``SocketModeServer``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.harness.socket_mode_server import SocketModeServer


@dataclass
class UploadedFile:
    """A file sent through files.getUploadURLExternal → upload → files.completeUploadExternal."""

    file_id: str
    filename: str
    length: int
    content: bytes | None = None
    completed: bool = False
    channel: str | None = None
    thread_ts: str | None = None
    title: str | None = None


@dataclass
class SlackCall:
    """One recorded request."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    answer: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


class FakeSlack:
    """The server plus what it recorded; ``users`` and ``usergroups`` feed users.info/usergroups.list."""

    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: list[dict[str, Any]] = []
        self.errors: dict[str, str] = {}
        self.rate_limits: dict[str, list[int]] = {}  # method → Retry-After seconds of the next 429 answers
        self.socket_mode: SocketModeServer | None = None
        self.uploads: dict[str, UploadedFile] = {}  # file id → what files.uploadV2 sent
        self._ts = 1700000000.000100
        self._cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._handle({})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.path.startswith("/upload/"):  # files.uploadV2 step 2: the raw bytes
                    self._upload(self.path[len("/upload/") :], self.rfile.read(length))
                    return
                raw = self.rfile.read(length).decode() if length else ""
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                self._handle(body)

            def _upload(self, file_id: str, data: bytes) -> None:
                ok = fake._receive_upload(file_id, data)
                answer = f"OK - {len(data)}".encode() if ok else b"unknown upload url"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _handle(self, body: dict[str, Any]) -> None:
                url = urlparse(self.path)
                args = {k: v[0] for k, v in parse_qs(url.query).items()}
                args.update(body)
                for key in ("blocks", "attachments", "files"):
                    if isinstance(args.get(key), str):
                        args[key] = json.loads(args[key])
                if url.path.startswith("/api/"):
                    method = url.path[len("/api/") :]
                elif url.path.startswith("/response/"):
                    method = "response_url"
                else:
                    self.send_error(404)
                    return
                headers = dict(self.headers.items())
                retry_after = fake._rate_limited(method)
                answer = (
                    {"ok": False, "error": "ratelimited"}
                    if retry_after is not None
                    else fake._answer(method, args, headers)
                )
                with fake._cond:
                    fake.calls.append(SlackCall(method, args, headers, answer))
                    fake._cond.notify_all()
                data = json.dumps(answer).encode()
                self.send_response(429 if retry_after is not None else 200)
                if retry_after is not None:  # Slack's rate limit: HTTP 429 with Retry-After seconds
                    self.send_header("Retry-After", str(retry_after))
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _rate_limited(self, method: str) -> int | None:
        """Retry-After seconds when this call of ``method`` is to be answered 429, else None."""
        with self._cond:
            queue = self.rate_limits.get(method)
            return queue.pop(0) if queue else None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def api_url(self) -> str:
        """Base URL for ``WebClient(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A response URL to put in slash-command payloads."""
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def start(self) -> FakeSlack:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (and the Socket Mode server, if enabled)."""
        if self.socket_mode is not None:
            self.socket_mode.stop()
        self._server.shutdown()
        self._server.server_close()

    def enable_socket_mode(self) -> SocketModeServer:
        """Start the WebSocket server that ``apps.connections.open`` points at (once; stopped by ``stop``)."""
        if self.socket_mode is None:
            self.socket_mode = SocketModeServer().start()
        return self.socket_mode

    def _answer(self, method: str, args: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        if method in self.errors:
            return {"ok": False, "error": self.errors[method]}
        if method == "apps.connections.open":
            token = headers.get("Authorization", "").removeprefix("Bearer ")
            if not token:
                return {"ok": False, "error": "not_authed"}
            if not token.startswith("xapp-"):
                return {"ok": False, "error": "not_allowed_token_type"}
            if self.socket_mode is None:
                return {"ok": False, "error": "socket_mode_not_enabled"}
            return {"ok": True, "url": self.socket_mode.issue_url()}
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://test.slack.invalid/",
                "team": "Test",
                "user": "runbook-bot",
                "team_id": "T0TEST",
                "user_id": "UBOT",
                "bot_id": "BBOT",
            }
        if method in ("chat.postMessage", "chat.update"):
            with self._cond:
                self._ts += 1
                ts = args.get("ts") if method == "chat.update" else f"{self._ts:.6f}"
            return {
                "ok": True,
                "channel": args.get("channel"),
                "ts": ts,
                "message": {"text": args.get("text"), "blocks": args.get("blocks")},
            }
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{self._ts:.6f}"}
        if method.startswith("files."):
            return self._files(method, args)
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": user}
        if method == "usergroups.list":
            return {"ok": True, "usergroups": self.usergroups}
        return {"ok": True}

    def _files(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """files.uploadV2's first and last calls (the middle one is the raw upload to ``upload_url``)."""
        if method == "files.getUploadURLExternal":
            with self._cond:
                file_id = f"F{len(self.uploads) + 1:08d}"
                self.uploads[file_id] = UploadedFile(file_id, str(args.get("filename")), int(args.get("length") or 0))
            return {"ok": True, "file_id": file_id, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            return self._complete_upload(args)
        return {"ok": False, "error": "unknown_method"}

    def _receive_upload(self, file_id: str, data: bytes) -> bool:
        with self._cond:
            upload = self.uploads.get(file_id)
            if upload is None:
                return False
            upload.content = data
            self._cond.notify_all()
            return True

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        """Like Slack: every listed file must have been uploaded, with exactly the announced length."""
        done = []
        with self._cond:
            for item in args.get("files") or []:
                upload = self.uploads.get(str(item.get("id")))
                if upload is None or upload.content is None:
                    return {"ok": False, "error": "file_not_found"}
                if len(upload.content) != upload.length:
                    return {"ok": False, "error": "file_upload_size_mismatch"}
                upload.completed = True
                upload.channel = args.get("channel_id")
                upload.thread_ts = args.get("thread_ts")
                upload.title = item.get("title")
                done.append({"id": upload.file_id, "name": upload.filename, "title": upload.title})
            self._cond.notify_all()
        return {"ok": True, "files": done}

    def wait_for(self, method: str, count: int = 1, timeout: float = 15.0) -> list[SlackCall]:
        """Block until ``count`` calls of ``method`` were recorded; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self.calls]
                    raise AssertionError(f"expected {count} {method} call(s) within {timeout}s; saw {seen}")
                self._cond.wait(left)

    def wait_match(
        self, method: str, predicate: Callable[[SlackCall], bool], count: int = 1, timeout: float = 15.0
    ) -> list[SlackCall]:
        """Block until ``count`` calls of ``method`` satisfy ``predicate``; return those calls."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if c.method == method and predicate(c)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(c.method, c.args.get("channel"), str(c.args.get("text", ""))[:80]) for c in self.calls]
                    raise AssertionError(f"expected {count} matching {method} call(s) within {timeout}s; saw {seen}")
                self._cond.wait(left)

    @staticmethod
    def posted_ts(call: SlackCall) -> str:
        """The ``ts`` the server gave a posted message."""
        return str(call.answer["ts"])

    def of(self, method: str) -> list[SlackCall]:
        """The recorded calls of ``method`` so far."""
        with self._cond:
            return [c for c in self.calls if c.method == method]
