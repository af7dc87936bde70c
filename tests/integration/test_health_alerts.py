"""The alert lifecycle against the real control plane: thresholds, one message, resolve, restarts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from kubernetes import client
from slack_sdk.models.blocks import Block

from bot.health.alerting.ports import AlwaysLeader
from bot.model import Requester
from tests.harness.control_plane import ControlPlane
from tests.harness.health_setup import ALERTS, MovableClock, alert_posts, health_settings, make_ready, replica
from tests.harness.kwok_nodes import create_node, unique_name
from tests.harness.slack_flow import all_text
from tests.harness.slack_server import FakeSlack

pytestmark = pytest.mark.integration


def local(name: str) -> Requester:
    """Someone acting with the kubeconfig's own (admin) identity, as in the shell: no SubjectAccessReview."""
    return Requester(chat_id=f"U0{name.upper()}", display_name=name, kube_user=None)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def test_not_ready_node_fires_one_alert_after_the_threshold_and_resolves_that_message(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, slack: FakeSlack, tmp_path: object
) -> None:
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("sick")
    create_node(core, name, ready=False)
    clock = MovableClock()
    settings = health_settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path}/h.sqlite3")
    rep = replica(settings, slack, clock)
    try:
        rep.health.sweep()
        clock.advance(timedelta(minutes=14))
        rep.health.sweep()
        assert alert_posts(slack, name) == [], "pending: not posted before the 15 minutes"
        (pending,) = [a for a in rep.bot.store.open_alerts(cluster="hc") if a.subject == f"node/{name}"]
        assert pending.state == "pending"

        clock.advance(timedelta(minutes=2))
        for _ in range(3):
            rep.health.sweep()
        (posted,) = alert_posts(slack, name)
        assert posted.args["channel"] == ALERTS
        Block.parse_all(posted.args["blocks"])
        text = all_text(posted.args["blocks"])
        assert f"Node NotReady: node/{name} on hc" in text
        assert "Why it matters" in text
        assert f"drain {name} --cluster hc" in text, "the likely runbook is named"
        ids = [e["action_id"] for b in posted.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert ids[0] == "rb_alert_run_0", "drain first"
        labels = [e["text"]["text"] for b in posted.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert labels[0] == f"Drain {name}"
        assert f"Pods on {name}" in labels
        assert {"rb_alert_ack", "rb_alert_silence_1h", "rb_alert_silence_4h", "rb_alert_silence_24h"} <= set(ids)

        make_ready(core, name)
        rep.health.sweep()
        ts = slack.posted_ts(posted)
        (update,) = [c for c in slack.of("chat.update") if c.args["ts"] == ts]
        assert f"Resolved: Node NotReady: node/{name}" in all_text(update.args["blocks"])
        assert [b for b in update.args["blocks"] if b["type"] == "actions"] == []
        replies = [c for c in slack.of("chat.postMessage") if c.args.get("thread_ts") == ts]
        assert len(replies) == 1
        assert "Resolved" in replies[0].args["text"]
        rep.health.sweep()
        assert len(alert_posts(slack, name)) == 1
        assert len([c for c in slack.of("chat.update") if c.args["ts"] == ts]) == 1
    finally:
        rep.close()


def test_a_restart_while_firing_does_not_post_again(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, slack: FakeSlack, store_url: str
) -> None:
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("sick")
    create_node(core, name, ready=False)
    clock = MovableClock(timedelta(minutes=20))
    settings = health_settings(control_plane.admin_kubeconfig, store_url)
    first = replica(settings, slack, clock)
    try:
        first.health.sweep()
        assert len(alert_posts(slack, name)) == 1
    finally:
        first.close()

    second = replica(settings, slack, clock)  # the restarted bot: same store, fresh process state
    try:
        second.health.sweep()
        second.health.sweep()
        (posted,) = alert_posts(slack, name)
        make_ready(core, name)
        second.health.sweep()
        ts = slack.posted_ts(posted)
        assert [c.args["ts"] for c in slack.of("chat.update")].count(ts) == 1, (
            "the restarted bot resolves the same message"
        )
    finally:
        second.close()


def test_reminders_while_firing_stop_when_acknowledged_and_resume_after_a_silence(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, slack: FakeSlack, tmp_path: object
) -> None:
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("sick")
    create_node(core, name, ready=False)
    clock = MovableClock(timedelta(minutes=20))
    settings = health_settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path}/h.sqlite3", renotify_minutes=60)
    rep = replica(settings, slack, clock, leadership=AlwaysLeader())
    try:
        rep.health.sweep()
        (posted,) = alert_posts(slack, name)
        ts = slack.posted_ts(posted)
        (alert,) = [a for a in rep.bot.store.open_alerts(cluster="hc") if a.subject == f"node/{name}"]

        def reminders() -> int:
            return sum(
                1
                for c in slack.of("chat.postMessage")
                if c.args.get("thread_ts") == ts and "Still firing" in c.args["text"]
            )

        clock.advance(timedelta(minutes=61))
        rep.health.sweep()
        rep.health.sweep()
        assert reminders() == 1, "one reminder per interval, broadcast in the thread"
        assert rep.health.actions.silence(alert.id, local("alice"), "4h").startswith("silenced until")
        clock.advance(timedelta(minutes=61))
        rep.health.sweep()
        assert reminders() == 1, "silenced"
        clock.advance(timedelta(hours=4))
        rep.health.sweep()
        assert reminders() == 2, "reminders resume after the silence"
        assert rep.health.actions.ack(alert.id, local("bob")) == "acknowledged"
        assert rep.health.actions.ack(alert.id, local("carol")) == "already acknowledged by bob"
        clock.advance(timedelta(hours=2))
        rep.health.sweep()
        assert reminders() == 2, "acknowledged: no more reminders"
        assert "acked by bob" in all_text([c for c in slack.of("chat.update") if c.args["ts"] == ts][-1].args["blocks"])
        assert len(alert_posts(slack, name)) == 1
        make_ready(core, name)
        rep.health.sweep()
        assert any("Resolved" in c.args["text"] for c in slack.of("chat.postMessage") if c.args.get("thread_ts") == ts)
    finally:
        rep.close()
