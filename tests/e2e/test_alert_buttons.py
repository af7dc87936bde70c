"""e2e: the buttons of an alert message, clicked through signed Slack requests into the real Bolt app.

The runbook button starts the run exactly as typing the command would: the plan is posted with
Confirm, the cluster's RBAC decides (a user who may not patch nodes is refused with the missing
permission), and a destructive run on production still needs an approver.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from kubernetes import client
from slack_sdk import WebClient
from slack_sdk.models.blocks import Block

from bot.health.alerting import HealthService
from bot.slack.alerts import runbook_exists
from bot.slack.writer import SlackWriter
from tests.harness.bot_server import BOT_TOKEN, BotServer
from tests.harness.health_setup import MovableClock, alert_posts
from tests.harness.slack_flow import PROD, all_text, click, latest_update
from tests.harness.slack_server import FakeSlack

pytestmark = pytest.mark.e2e


@pytest.fixture
def health(flow_server: BotServer, fake_slack: FakeSlack) -> Iterator[HealthService]:
    """The health service of the served bot; its clock is 20 minutes ahead (node-2 is long NotReady)."""
    bot = flow_server.bot
    poster = SlackWriter(WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url))
    service = HealthService(
        bot.settings,
        bot.kube,
        bot.store,
        poster,
        runbook_exists=runbook_exists(bot),
        clock=MovableClock(timedelta(minutes=20)),
    )
    yield service
    service.stop()


def test_the_alert_drain_button_plans_the_drain_of_that_node_under_the_same_rules(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient, health: HealthService
) -> None:
    health.sweep(["prod"])
    (alert,) = alert_posts(fake_slack, "node/node-2")
    assert alert.args["channel"] == PROD, "no route configured: the cluster's own channel"
    Block.parse_all(alert.args["blocks"])
    alert.args["ts"] = fake_slack.posted_ts(alert)
    assert "drain node-2 --cluster prod" in all_text(alert.args["blocks"])

    click(flow_server, alert, "rb_alert_run_0", "U0MALLORY")
    refused = fake_slack.wait_match("chat.postEphemeral", lambda c: c.args["user"] == "U0MALLORY")[0]
    assert "mallory may not" in refused.args["text"]
    assert "patch nodes `node-2`" in refused.args["text"]

    click(flow_server, alert, "rb_alert_run_0", "U0ALICE")
    (plan,) = fake_slack.wait_match(
        "chat.postMessage",
        lambda c: c.args["channel"] == PROD and "Plan: drain on prod" in all_text(c.args.get("blocks") or []),
    )
    text = all_text(plan.args["blocks"])
    assert "cordon node node-2" in text
    assert "patch nodes `node-2`" in text
    assert "needs 1 approval from group leads: rule 2 (change and destructive runbooks on cluster prod)" in text
    (note,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args.get("thread_ts") == alert.args["ts"])
    assert "Alice Doe (alice) requested `drain node-2 --cluster prod`" in note.args["text"]

    plan.args["ts"] = fake_slack.posted_ts(plan)
    click(flow_server, plan, "rb_confirm", "U0ALICE")
    waiting = latest_update(fake_slack, "Awaiting approval")
    assert waiting.args["ts"] == plan.args["ts"], "the same approval flow as a typed command"
    assert not client.CoreV1Api(e2e_admin).read_node("node-2").spec.unschedulable, "nothing ran without approval"


def test_ack_and_silence_buttons_update_the_alert_message(
    flow_server: BotServer, fake_slack: FakeSlack, health: HealthService
) -> None:
    health.sweep(["prod"])
    (alert,) = alert_posts(fake_slack, "node/node-2")
    alert.args["ts"] = fake_slack.posted_ts(alert)

    click(flow_server, alert, "rb_alert_ack", "U0BOB")
    fake_slack.wait_match(
        "chat.postEphemeral", lambda c: c.args["user"] == "U0BOB" and c.args["text"] == "acknowledged"
    )
    acked = latest_update(fake_slack, "acked by Bob Builder (bob)")
    assert acked.args["ts"] == alert.args["ts"]
    assert "rb_alert_ack" not in {
        e["action_id"] for b in acked.args["blocks"] if b["type"] == "actions" for e in b["elements"]
    }

    click(flow_server, alert, "rb_alert_silence_4h", "U0DAVE")
    fake_slack.wait_match(
        "chat.postEphemeral", lambda c: c.args["user"] == "U0DAVE" and "silenced until" in c.args["text"]
    )
    latest_update(fake_slack, "silenced by Dave Ops (dave)")
    replies = [c.args["text"] for c in fake_slack.of("chat.postMessage") if c.args.get("thread_ts") == alert.args["ts"]]
    assert any("Acknowledged by Bob Builder (bob)" in r for r in replies)
    assert any("Silenced by Dave Ops (dave) for 4h" in r for r in replies)
