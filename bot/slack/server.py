"""Serving: HTTP Events API (WSGI on waitress) or Socket Mode, plus /healthz, /readyz, /metrics."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.metrics import REGISTRY

log = logging.getLogger("bot.slack")
StartResponse = Callable[..., Any]


class ProbeAndSlackApp:
    """WSGI app: ``POST /slack/events`` to Bolt; ``/healthz``, ``/readyz`` and ``/metrics``."""

    def __init__(self, app: App | None, ready: Callable[[], bool]) -> None:
        self._slack = SlackRequestHandler(app) if app is not None else None
        self._ready = ready

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return self._plain(start_response, "200 OK", b"ok")
        if path == "/readyz":
            ok = self._ready()
            return self._plain(
                start_response,
                "200 OK" if ok else "503 Service Unavailable",
                b"ready" if ok else b"not ready: Slack connection is down",
            )
        if path == "/metrics":
            body = generate_latest(REGISTRY)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
            return [body]
        if self._slack is not None and path == "/slack/events":
            return self._slack(environ, start_response)
        return self._plain(start_response, "404 Not Found", b"not found")

    @staticmethod
    def _plain(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]


def make_http_server(wsgi: ProbeAndSlackApp, host: str, port: int) -> Any:
    """A waitress server (not yet running); ``.run()`` serves, ``.close()`` stops."""
    from waitress.server import create_server

    return create_server(wsgi, host=host, port=port, threads=8, ident="k8s-runbook-bot")


def stop_http_server(server: Any) -> None:
    """Stop a running waitress server from any thread: its channels are closed inside its own loop."""

    def close_all() -> None:
        for channel in list(server._map.values()):
            channel.close()

    try:
        server.trigger.pull_trigger(close_all)
    except OSError:
        # The loop's wake-up pipe is already closed: the loop is gone, so close what is left here.
        close_all()
    server.task_dispatcher.shutdown()


def _stop_on_sigterm(server: Any, drain: Callable[[], None]) -> None:
    import signal

    def stop() -> None:
        try:
            drain()
        finally:
            stop_http_server(server)

    def handler(signum: int, frame: object) -> None:
        log.info("SIGTERM: taking no new runs; letting running ones stop, then shutting down")
        threading.Thread(target=stop, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, handler)


def serve_http(app: App, host: str, port: int, *, ready: Callable[[], bool], drain: Callable[[], None]) -> None:
    """Serve the Events API and probes until SIGTERM (``drain`` runs first) or interruption."""
    server = make_http_server(ProbeAndSlackApp(app, ready=ready), host, port)
    _stop_on_sigterm(server, drain)
    log.info("listening", extra={"host": host, "port": server.effective_port, "mode": "http"})
    server.run()


class SocketModeService:
    """A Socket Mode connection plus the probe server beside it; ``close()`` stops both."""

    def __init__(self, handler: Any, probes: Any, probes_thread: threading.Thread) -> None:
        self.handler = handler
        self._probes = probes
        self._probes_thread = probes_thread

    @property
    def probes_port(self) -> int:
        """The port serving /healthz, /readyz and /metrics."""
        return int(self._probes.effective_port)

    def connected(self) -> bool:
        """True while the WebSocket to Slack is open (what /readyz reports)."""
        return bool(self.handler.client.is_connected())

    def close(self) -> None:
        """Disconnect from Slack (no reconnection), stop the SDK's threads and the probe server."""
        self.handler.close()
        stop_http_server(self._probes)
        self._probes_thread.join(timeout=5)


def start_socket_mode(app: App, app_token: str, host: str, port: int) -> SocketModeService:
    """Serve probes on ``host:port`` and connect over Socket Mode; returns once the first connect was tried.

    The SDK's own threads receive envelopes and reconnect; readyz follows the socket.
    """
    # websocket-client based: notices a dropped TCP link (the builtin client spins and reports
    # "connected" for about a minute after a reset without a close frame).
    from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler

    handler = SocketModeHandler(app, app_token)
    probes = make_http_server(ProbeAndSlackApp(None, ready=lambda: bool(handler.client.is_connected())), host, port)
    thread = threading.Thread(target=probes.run, name="probes", daemon=True)
    thread.start()
    service = SocketModeService(handler, probes, thread)
    log.info("connecting", extra={"mode": "socket", "probes_port": service.probes_port})
    try:
        handler.connect()  # type: ignore[no-untyped-call]
    except BaseException:
        service.close()
        raise
    return service


def serve_socket_mode(app: App, app_token: str, host: str, port: int, *, drain: Callable[[], None]) -> None:
    """Connect over Socket Mode; probes and metrics on ``host:port``; until SIGTERM (``drain`` runs first)."""
    import signal

    service = start_socket_mode(app, app_token, host, port)
    stop = threading.Event()

    def on_sigterm(signum: int, frame: object) -> None:
        log.info("SIGTERM: taking no new runs; letting running ones stop, then shutting down")
        stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        while not stop.wait(0.5):
            pass
        drain()
    finally:
        service.close()
