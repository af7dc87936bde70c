"""The drain plan's warning about the bot's own pod: which store, which Deployment, and when it is silent."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config.settings import Settings
from bot.steps.drain.filters import PodVerdicts
from bot.steps.drain.own_pod import own_pod_warning


def pod(name: str, ns: str = "ops", owner: dict[str, Any] | None = None) -> dict[str, Any]:
    refs = [owner] if owner else []
    return {"metadata": {"name": name, "namespace": ns, "ownerReferences": refs}}


BOT = pod("rb-7d9f8c6b5-x2x4q", owner={"kind": "ReplicaSet", "name": "rb-7d9f8c6b5", "controller": True})


@pytest.fixture(autouse=True)
def in_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "rb-7d9f8c6b5-x2x4q")
    monkeypatch.setenv("POD_NAMESPACE", "ops")


def test_with_sqlite_the_single_replica_is_down_until_rescheduled() -> None:
    text = own_pod_warning("n1", PodVerdicts(evict=[pod("web-1"), BOT]), Settings())
    assert text is not None
    assert text.startswith("node n1 runs the bot itself (pod ops/rb-7d9f8c6b5-x2x4q): the drain evicts it mid-run.")
    assert "With SQLite the bot has a single replica: it is down until its pod runs on another node." in text
    assert "cordon n1, run `kubectl -n ops rollout restart deployment/rb` so the bot starts elsewhere" in text


def test_with_postgresql_another_replica_keeps_serving() -> None:
    settings = Settings(store={"url": "postgresql+psycopg://bot@db/bot"})
    text = own_pod_warning("n1", PodVerdicts(refused=[(BOT, "uses emptyDir")]), settings)
    assert text is not None
    assert "Another replica keeps serving Slack" in text
    assert "SQLite" not in text


def test_silent_when_the_bot_is_not_among_the_pods_evicted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert own_pod_warning("n1", PodVerdicts(evict=[pod("web-1")]), Settings()) is None
    assert own_pod_warning("n1", PodVerdicts(skipped=[(BOT, "DaemonSet pod")]), Settings()) is None
    assert own_pod_warning("n1", PodVerdicts(evict=[pod(BOT["metadata"]["name"], ns="other")]), Settings()) is None
    monkeypatch.delenv("POD_NAME")
    assert own_pod_warning("n1", PodVerdicts(evict=[BOT]), Settings()) is None
