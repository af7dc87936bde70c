"""Run the real bot (Bolt app + WSGI server) on 127.0.0.1 against a local Slack server."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bot.config.settings import ClusterSettings, IdentitySettings, KubeIdentity, Settings, SlackSettings
from bot.engine.bootstrap import Bot, build_bot
from bot.slack.app import build_app
from bot.slack.server import ProbeAndSlackApp, make_http_server, stop_http_server
from tests.harness.control_plane import CONTEXT
from tests.harness.slack_server import FakeSlack

SIGNING_SECRET = "e2e-signing-secret"
BOT_TOKEN = "xoxb-e2e-0000-test"


def bot_settings(kubeconfig: Path, slack: FakeSlack, store_url: str, **identity_users: KubeIdentity) -> Settings:
    """Settings for one cluster ``test`` (admin kubeconfig) and Slack pointed at ``slack``."""
    users = identity_users or {"U0ALICE": KubeIdentity(user="alice", groups=["oncall", "sre"])}
    return Settings(
        clusters={"test": ClusterSettings(kubeconfig=kubeconfig, context=CONTEXT, environment="staging")},
        slack=SlackSettings(
            mode="http",
            bot_token=BOT_TOKEN,
            signing_secret=SIGNING_SECRET,  # type: ignore[arg-type]
            api_base_url=slack.api_url,
            listen_host="127.0.0.1",
            listen_port=3000,
        ),
        identity=IdentitySettings(users=users),
        store={"url": store_url},
        log_format="text",
    )


@dataclass
class BotServer:
    """The bot serving HTTP on a free loopback port."""

    bot: Bot
    port: int
    _server: object
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        """Base URL of the bot."""
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
        """POST and return (status, body) without raising on HTTP errors."""
        req = urllib.request.Request(self.url + path, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def get(self, path: str) -> tuple[int, str]:
        """GET and return (status, body)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def stop(self) -> None:
        """Stop serving and release clients."""
        stop_http_server(self._server)
        self._thread.join(timeout=5)
        self.bot.close()


def start_bot_server(settings: Settings) -> BotServer:
    """Build the bot from ``settings`` and serve it on a free port."""
    bot = build_bot(settings)
    app = build_app(bot)
    server = make_http_server(ProbeAndSlackApp(app, ready=lambda: True), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, name="bot-http", daemon=True)
    thread.start()
    return BotServer(bot=bot, port=int(server.effective_port), _server=server, _thread=thread)
