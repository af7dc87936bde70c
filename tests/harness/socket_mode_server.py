"""A local Slack Socket Mode endpoint on 127.0.0.1 (the WebSocket behind ``apps.connections.open``).

It speaks Slack's Socket Mode protocol over a real WebSocket (the ``websockets`` package's
threaded server does the framing, answers the client's pings and sends keepalive pings):

* every ``apps.connections.open`` gets a fresh single-use ticket in its URL
  (``ws://127.0.0.1:<port>/link?ticket=...``); a handshake without a valid ticket gets HTTP 401,
  and while ``accepting`` is False every handshake gets HTTP 503;
* on connect the server sends ``{"type": "hello", ...}``;
* ``push`` / ``push_slash_command`` send envelopes to the newest open connection;
* every frame the client sends back (acks are ``{"envelope_id": ...}``) is recorded;
* ``close_connections`` closes the open connections the way Slack's servers do (a close frame).
"""

from __future__ import annotations

import http
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, parse_qsl, urlparse

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tests.harness.slack_signing import slash_command_body

T = TypeVar("T")


@dataclass
class LinkConnection:
    """One accepted WebSocket connection."""

    number: int
    path: str
    headers: dict[str, str]
    opened_at: float = field(default_factory=time.monotonic)
    closed_at: float | None = None
    close_code: int | None = None
    ws: ServerConnection | None = field(default=None, repr=False)

    @property
    def is_open(self) -> bool:
        """True until the connection closed."""
        return self.closed_at is None


@dataclass
class LinkFrame:
    """One message the client sent (or the server pushed, ``sent=True``)."""

    connection: int
    raw: str
    data: dict[str, Any] | None
    sent: bool = False
    at: float = field(default_factory=time.monotonic)


class SocketModeServer:
    """The WebSocket side of Socket Mode; ``FakeSlack`` hands its URL out from ``apps.connections.open``."""

    def __init__(self, app_id: str = "A0BOT") -> None:
        self.app_id = app_id
        self.accepting = True
        self.connections: list[LinkConnection] = []
        self.frames: list[LinkFrame] = []
        self.rejected: list[tuple[int, str]] = []  # (HTTP status, path) of refused handshakes
        self._tickets: set[str] = set()
        self._cond = threading.Condition()
        self._server: Server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_request,
            compression=None,  # Slack's builtin client never offers permessage-deflate anyway
            close_timeout=2,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="socket-mode-server", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the WebSocket server listens on."""
        return int(self._server.socket.getsockname()[1])

    def start(self) -> SocketModeServer:
        """Start accepting connections in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every connection (1001 going away) and stop listening; waits for the handler threads."""
        self._server.shutdown()
        self._thread.join(timeout=5)

    def issue_url(self) -> str:
        """A fresh WebSocket URL with a single-use ticket, as ``apps.connections.open`` returns it."""
        ticket = uuid.uuid4().hex
        with self._cond:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link?ticket={ticket}&app_id={self.app_id}"

    # -- the protocol ------------------------------------------------------------------------

    def _check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        url = urlparse(request.path)
        ticket = (parse_qs(url.query).get("ticket") or [""])[0]
        with self._cond:
            if not self.accepting:
                status = http.HTTPStatus.SERVICE_UNAVAILABLE
            elif url.path.rstrip("/") != "/link" or ticket not in self._tickets:
                status = http.HTTPStatus.UNAUTHORIZED
            else:
                self._tickets.discard(ticket)
                return None
            self.rejected.append((int(status), request.path))
            self._cond.notify_all()
        return ws.respond(status, f"{status.phrase}\n")

    def _handle(self, ws: ServerConnection) -> None:
        with self._cond:
            conn = LinkConnection(
                number=len(self.connections) + 1,
                path=ws.request.path if ws.request else "",
                headers=dict(ws.request.headers.raw_items()) if ws.request else {},
                ws=ws,
            )
            self.connections.append(conn)
            open_now = sum(1 for c in self.connections if c.is_open)
            self._cond.notify_all()
        try:
            hello = {
                "type": "hello",
                "num_connections": open_now,
                "debug_info": {"host": "applink-fake-1", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
            self._send(conn, hello)
            for message in ws:
                raw = message if isinstance(message, str) else message.decode("utf-8", "replace")
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
                with self._cond:
                    self.frames.append(LinkFrame(conn.number, raw, data if isinstance(data, dict) else None))
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                conn.closed_at = time.monotonic()
                conn.close_code = ws.close_code
                self._cond.notify_all()

    def _send(self, conn: LinkConnection, message: dict[str, Any]) -> None:
        raw = json.dumps(message)
        assert conn.ws is not None
        conn.ws.send(raw)
        with self._cond:
            self.frames.append(LinkFrame(conn.number, raw, message, sent=True))

    # -- what tests call ---------------------------------------------------------------------

    def open_connections(self) -> list[LinkConnection]:
        """Connections that are open now."""
        with self._cond:
            return [c for c in self.connections if c.is_open]

    def wait_connected(self, count: int = 1, timeout: float = 10.0) -> LinkConnection:
        """Block until ``count`` connections were accepted in all; return the newest."""
        return self._wait(
            lambda: self.connections[-1] if len(self.connections) >= count else None, timeout, f"{count} connection(s)"
        )

    def wait_single_open_connection(self, timeout: float = 10.0) -> LinkConnection:
        """Block until exactly one connection is open; return it."""

        def single() -> LinkConnection | None:
            live = [c for c in self.connections if c.is_open]
            return live[0] if len(live) == 1 else None

        return self._wait(single, timeout, "exactly one open connection")

    def wait_closed(self, conn: LinkConnection, timeout: float = 10.0) -> LinkConnection:
        """Block until ``conn`` closed."""
        return self._wait(lambda: conn if not conn.is_open else None, timeout, f"connection {conn.number} to close")

    def push(self, envelope: dict[str, Any]) -> LinkConnection:
        """Send ``envelope`` on the newest open connection."""
        live = self.open_connections()
        if not live:
            raise AssertionError("no open Socket Mode connection to push to")
        self._send(live[-1], envelope)
        return live[-1]

    def push_slash_command(
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0OPS",
        response_url: str = "",
        command: str = "/k8s",
    ) -> dict[str, Any]:
        """Push a ``slash_commands`` envelope as Slack does; returns the envelope."""
        form = slash_command_body(
            text,
            user_id=user_id,
            channel_id=channel_id,
            response_url=response_url,
            command=command,
            trigger_id=f"t.{uuid.uuid4().hex[:8]}",
        )
        payload = dict(parse_qsl(form, keep_blank_values=True))
        payload["api_app_id"] = self.app_id
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "payload": payload,
            "type": "slash_commands",
            "accepts_response_payload": True,
        }
        self.push(envelope)
        return envelope

    def push_disconnect(self, reason: str = "refresh_requested") -> LinkConnection:
        """Slack's warning that it is about to drop the link (the client should reconnect at once)."""
        return self.push({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}})

    def wait_for_ack(self, envelope_id: str, timeout: float = 3.0) -> LinkFrame:
        """Block until the client sent a frame carrying ``envelope_id``; return it."""

        def found() -> LinkFrame | None:
            for f in self.frames:
                if not f.sent and f.data is not None and f.data.get("envelope_id") == envelope_id:
                    return f
            return None

        return self._wait(found, timeout, f"an ack of envelope {envelope_id}")

    def received(self) -> list[LinkFrame]:
        """Frames the client sent so far."""
        with self._cond:
            return [f for f in self.frames if not f.sent]

    def close_connections(self, code: int = 1001, reason: str = "") -> list[LinkConnection]:
        """Close every open connection with a close frame and wait until they are closed."""
        live = self.open_connections()
        for conn in live:
            assert conn.ws is not None
            conn.ws.close(code, reason)
        for conn in live:
            self.wait_closed(conn)
        return live

    def _wait(self, probe: Callable[[], T | None], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = probe()
                if result is not None:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {what} within {timeout}s")
                self._cond.wait(left)
