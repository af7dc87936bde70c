"""e2e over Socket Mode: the real bot dials a local Socket Mode endpoint, gets a ``/k8s`` envelope,
acks it on the WebSocket and posts the outcome through the Web API; /readyz follows the link."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.config.settings import ClusterSettings, IdentitySettings, KubeIdentity, Settings, SlackSettings
from bot.engine.bootstrap import Bot, build_bot
from bot.slack.app import build_app
from bot.slack.server import SocketModeService, start_socket_mode
from tests.harness.bot_server import BOT_TOKEN
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.slack_flow import all_text
from tests.harness.slack_server import FakeSlack
from tests.harness.socket_mode_server import SocketModeServer

pytestmark = pytest.mark.e2e

APP_TOKEN = "xapp-1-A0BOT-0000-e2e"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def socket_settings(kubeconfig: Any, slack: FakeSlack) -> Settings:
    """Socket Mode: app + bot token, Web API at ``slack``, probes on a free loopback port."""
    return Settings(
        clusters={"test": ClusterSettings(kubeconfig=kubeconfig, context=CONTEXT, environment="staging")},
        slack=SlackSettings(
            mode="socket",
            bot_token=BOT_TOKEN,  # type: ignore[arg-type]
            app_token=APP_TOKEN,  # type: ignore[arg-type]
            api_base_url=slack.api_url,
            listen_host="127.0.0.1",
            listen_port=free_port(),
        ),
        identity=IdentitySettings(users={"U0ALICE": KubeIdentity(user="alice", groups=["oncall", "sre"])}),
        log_format="text",
    )


@dataclass
class SocketBot:
    bot: Bot
    service: SocketModeService

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.service.probes_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_readyz(self, status: int, timeout: float) -> float:
        """Poll /readyz until it answers ``status``; return the seconds it took."""
        started = time.monotonic()
        seen: list[int] = []
        while time.monotonic() - started < timeout:
            code = self.get("/readyz")[0]
            if code == status:
                return time.monotonic() - started
            if not seen or seen[-1] != code:
                seen.append(code)
            time.sleep(0.05)
        raise AssertionError(f"/readyz did not turn {status} within {timeout}s (saw {seen})")


@pytest.fixture
def link(fake_slack: FakeSlack) -> SocketModeServer:
    """The WebSocket server that ``apps.connections.open`` points at (stopped with ``fake_slack``)."""
    return fake_slack.enable_socket_mode()


@pytest.fixture
def socket_bot(e2e_control_plane: ControlPlane, fake_slack: FakeSlack, link: SocketModeServer) -> Iterator[SocketBot]:
    """The bot in Socket Mode; its SDK threads receive envelopes in the background. Closed after the test."""
    settings = socket_settings(e2e_control_plane.admin_kubeconfig, fake_slack)
    bot = build_bot(settings)
    s = settings.slack
    assert s.app_token is not None
    app = build_app(bot)
    service = start_socket_mode(app, s.app_token.get_secret_value(), s.listen_host, s.listen_port)
    try:
        yield SocketBot(bot, service)
    finally:
        service.close()
        app.listener_runner.listener_executor.shutdown(wait=True)  # no lazy listener outlives the test
        bot.close()


texts = all_text


def test_socket_mode_command_is_acked_on_the_socket_and_posted_and_readyz_follows_the_link(
    socket_bot: SocketBot, fake_slack: FakeSlack, link: SocketModeServer, three_nodes: list[str]
) -> None:
    # connected: the URL came from apps.connections.open, called with the app token
    conn = link.wait_connected()
    opened = fake_slack.of("apps.connections.open")[0]
    assert opened.headers.get("Authorization") == f"Bearer {APP_TOKEN}"
    assert conn.path.startswith("/link?ticket=")
    assert socket_bot.get("/readyz") == (200, "ready")
    assert socket_bot.get("/healthz") == (200, "ok")

    # a slash command envelope is acked on the socket with its envelope_id, within 3 s
    pushed = time.monotonic()
    envelope = link.push_slash_command("status", response_url=fake_slack.response_url())
    ack = link.wait_for_ack(envelope["envelope_id"], timeout=3.0)
    assert ack.at - pushed < 3.0
    assert ack.connection == conn.number
    assert ack.data == {"envelope_id": envelope["envelope_id"]}  # bare ack: no response payload

    # ... and the outcome is posted to the command's channel through the Web API, with the bot token
    (post,) = fake_slack.wait_for("chat.postMessage")
    assert post.args["channel"] == envelope["payload"]["channel_id"] == "C0OPS"
    assert post.headers.get("Authorization") == f"Bearer {BOT_TOKEN}"
    blocks = post.args["blocks"]
    assert [b.to_dict() for b in Block.parse_all(blocks)] == blocks, "blocks must round-trip through slack_sdk"
    assert "3 nodes: 2 Ready, 1 NotReady, 1 cordoned" in texts(blocks)
    assert "3 nodes: 2 Ready, 1 NotReady, 1 cordoned" in post.args["text"]
    assert fake_slack.of("response_url") == []
    # the client sent nothing but the one ack (pings/pongs are control frames, not messages)
    assert [f.data for f in link.received()] == [{"envelope_id": envelope["envelope_id"]}]

    # Slack drops the link and (for this check) refuses to take it back: /readyz turns 503
    link.accepting = False
    dropped = link.close_connections(code=1001, reason="going away")
    assert [c.number for c in dropped] == [conn.number]
    socket_bot.wait_readyz(503, timeout=10.0)
    assert socket_bot.get("/readyz") == (503, "not ready: Slack connection is down")
    assert socket_bot.get("/healthz") == (200, "ok")  # liveness is not tied to the link


def test_socket_mode_reconnects_with_a_new_url_after_the_link_drops(
    socket_bot: SocketBot, fake_slack: FakeSlack, link: SocketModeServer, three_nodes: list[str]
) -> None:
    first = link.wait_connected()
    socket_bot.wait_readyz(200, timeout=5.0)
    link.accepting = False  # so the 503 cannot be missed, whenever the SDK's next reconnect comes
    link.close_connections()
    socket_bot.wait_readyz(503, timeout=10.0)
    link.accepting = True
    # the client reconnects at once, asking apps.connections.open for a fresh URL on every attempt
    # (refused attempts included): a used ticket is never replayed
    second = link.wait_connected(count=2, timeout=15.0)
    assert second.number == first.number + 1
    assert second.path != first.path
    urls = [c.answer["url"] for c in fake_slack.of("apps.connections.open")]
    assert len(urls) >= 2
    assert len(set(urls)) == len(urls)
    socket_bot.wait_readyz(200, timeout=5.0)
    envelope = link.push_slash_command("status")
    assert link.wait_for_ack(envelope["envelope_id"]).connection == second.number
    (post,) = fake_slack.wait_for("chat.postMessage")
    assert "3 nodes: 2 Ready, 1 NotReady, 1 cordoned" in post.args["text"]


def test_socket_mode_moves_to_a_new_link_at_once_on_a_disconnect_warning(
    socket_bot: SocketBot, fake_slack: FakeSlack, link: SocketModeServer
) -> None:
    first = link.wait_connected()
    socket_bot.wait_readyz(200, timeout=5.0)
    link.push_disconnect("refresh_requested")
    # the client closes the old link and dials a fresh URL (websocket-client adapter). Usually at
    # once; when the SDK's close/reconnect race loses the new session, its monitor redials on the
    # next ping_interval tick (10 s) — so allow for one tick.
    link.wait_connected(count=2, timeout=20.0)
    assert not first.is_open
    socket_bot.wait_readyz(200, timeout=15.0)
    urls = [c.answer["url"] for c in fake_slack.of("apps.connections.open")]
    assert len(urls) >= 2
    assert len(set(urls)) == len(urls)
    live = link.wait_single_open_connection(timeout=15.0)  # a redundant redial closes again: one live link
    envelope = link.push_slash_command("help")
    assert link.wait_for_ack(envelope["envelope_id"]).connection == live.number
