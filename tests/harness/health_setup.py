"""Build health services for tests: a movable clock, settings, the Slack poster against FakeSlack."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes import client
from slack_sdk import WebClient

from bot.config.settings import Settings
from bot.engine.bootstrap import Bot, build_bot
from bot.health import HealthService, Leadership
from bot.slack.alerts import runbook_exists
from bot.slack.writer import SlackWriter
from tests.harness.bot_server import BOT_TOKEN
from tests.harness.control_plane import CONTEXT
from tests.harness.kwok_nodes import STRATEGIC_MERGE, wait_node_ready
from tests.harness.slack_flow import all_text
from tests.harness.slack_server import FakeSlack, SlackCall

ALERTS = "C0ALERTS"


class MovableClock:
    """Real time plus an offset that tests move forward (durations pass without sleeping)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        with self._lock:
            self.offset += delta

    def set(self, at: datetime) -> None:
        """Make the clock read ``at`` now (and move on in real time from there)."""
        with self._lock:
            self.offset = at - datetime.now(UTC)


def health_settings(kubeconfig: Path, store_url: str, **health: Any) -> Settings:
    """One cluster ``hc`` (admin kubeconfig); alerts of every severity routed to ``ALERTS``."""
    doc: dict[str, Any] = {"routes": [{"channel": ALERTS}], **health}
    return Settings(
        clusters={"hc": {"kubeconfig": str(kubeconfig), "context": CONTEXT, "channels": ["C0HC"]}},
        store={"url": store_url},
        health=doc,
        log_format="text",
    )


@dataclass
class Replica:
    """One bot process's health side: the bot core and its health service."""

    bot: Bot
    health: HealthService

    def close(self) -> None:
        """Stop the service (without releasing anything) and close the bot."""
        self.health.stop(release=False)
        self.bot.close()


def replica(
    settings: Settings,
    slack: FakeSlack,
    clock: MovableClock,
    *,
    identity: str | None = None,
    leadership: Leadership | None = None,
) -> Replica:
    """A bot plus its health service posting to ``slack``."""
    bot = build_bot(settings)
    poster = SlackWriter(WebClient(token=BOT_TOKEN, base_url=slack.api_url))
    service = HealthService(
        settings,
        bot.kube,
        bot.store,
        poster,
        runbook_exists=runbook_exists(bot),
        clock=clock,
        identity=identity,
        leadership=leadership,
    )
    return Replica(bot, service)


def alert_posts(slack: FakeSlack, needle: str) -> list[SlackCall]:
    """Top-level messages (not thread replies) whose blocks mention ``needle``."""
    return [
        c
        for c in slack.of("chat.postMessage")
        if not c.args.get("thread_ts") and needle in all_text(c.args.get("blocks") or [])
    ]


def make_ready(core: client.CoreV1Api, name: str) -> None:
    """The kubelet of a NotReady node (see ``create_node``) is back: its Ready condition turns True."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "simulated: kubelet is posting ready status",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }
    core.patch_node_status(name, {"status": {"conditions": [condition]}}, _content_type=STRATEGIC_MERGE)
    wait_node_ready(core, name)
