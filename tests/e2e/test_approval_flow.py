"""e2e through signed Slack requests: command → plan → Confirm → Approve → message updated in place →
audit channel → `/k8s audit`; plus Deny through the reason modal."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from slack_sdk.models.blocks import Block

from tests.harness.bot_server import BotServer
from tests.harness.slack_flow import AUDIT, PROD, all_text, click, command, latest_update, submit_reason
from tests.harness.slack_server import FakeSlack

pytestmark = pytest.mark.e2e


def cordoned(api: client.ApiClient) -> bool:
    return bool(client.CoreV1Api(api).read_node("node-1").spec.unschedulable)


def test_command_confirm_approve_updates_one_message_and_audits(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient
) -> None:
    command(flow_server, fake_slack, "cordon node-1", "U0ALICE")
    (plan,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == PROD)
    Block.parse_all(plan.args["blocks"])
    text = all_text(plan.args["blocks"])
    assert "Plan: cordon on prod" in text
    assert "cordon node node-1" in text
    assert "patch nodes `node-1`" in text
    plan.args["ts"] = fake_slack.posted_ts(plan)
    assert not cordoned(e2e_admin)

    click(flow_server, plan, "rb_confirm", "U0ALICE")
    waiting = latest_update(fake_slack, "Awaiting approval")
    assert waiting.args["ts"] == plan.args["ts"], "the same message is updated in place"

    click(flow_server, waiting, "rb_approve", "U0ALICE")
    (notice,) = fake_slack.wait_for("chat.postEphemeral")
    assert notice.args["user"] == "U0ALICE"
    assert "two-person rule" in notice.args["text"]

    click(flow_server, waiting, "rb_approve", "U0BOB")
    done = latest_update(fake_slack, "Done:")
    assert done.args["ts"] == plan.args["ts"]
    done_text = all_text(done.args["blocks"])
    assert "Done: cordon on prod" in done_text
    assert "1 of 1: Bob Builder" in done_text
    assert [b for b in done.args["blocks"] if b["type"] == "actions"] == [], "no buttons once finished"
    assert cordoned(e2e_admin)

    click(flow_server, waiting, "rb_approve", "U0ERIN")  # a replayed click on the old message
    fake_slack.wait_match("chat.postEphemeral", lambda c: "already succeeded" in c.args["text"])

    fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == AUDIT and "*succeeded*" in c.args["text"])
    audit = [c for c in fake_slack.of("chat.postMessage") if c.args["channel"] == AUDIT]
    headline, *thread = audit
    assert "Alice Doe (alice)" in headline.args["text"]
    assert "`cordon node-1`" in headline.args["text"]
    kinds = " ".join(c.args["text"] for c in thread)
    for kind in ("planned", "confirmed", "approval requested", "approved", "succeeded"):
        assert f"*{kind}*" in kinds
    assert "* · Alice Doe · " in kinds, "actors by name, not Slack ID"
    assert "* · Bob Builder · " in kinds
    assert all(c.args.get("thread_ts") for c in thread)
    assert any(u.args["channel"] == AUDIT and "succeeded" in u.args["text"] for u in fake_slack.of("chat.update"))

    command(flow_server, fake_slack, "audit 30", "U0DAVE")
    (trail,) = fake_slack.wait_match(
        "chat.postMessage",
        lambda c: c.args["channel"] == PROD and "Audit trail" in all_text(c.args.get("blocks") or []),
    )
    rows = all_text(trail.args["blocks"])
    assert "approved by bob (groups: sre, leads)" in rows


def test_deny_through_the_reason_modal(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient
) -> None:
    command(flow_server, fake_slack, "cordon node-1", "U0ALICE")
    (plan,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == PROD)
    plan.args["ts"] = fake_slack.posted_ts(plan)
    click(flow_server, plan, "rb_confirm", "U0ALICE")
    waiting = latest_update(fake_slack, "Awaiting approval")
    click(flow_server, waiting, "rb_deny", "U0CAROL")
    (opened,) = fake_slack.wait_for("views.open")
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    assert view["callback_id"] == "rb_reason"
    submit_reason(flow_server, view, "U0CAROL", "change freeze until Monday")
    text = all_text(latest_update(fake_slack, "Denied:").args["blocks"])
    assert "Denied: cordon on prod" in text
    assert "change freeze until Monday" in text
    assert not cordoned(e2e_admin)


def test_a_reason_is_posted_as_text_never_as_a_mention(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient
) -> None:
    command(flow_server, fake_slack, "cordon node-1", "U0ALICE")
    (plan,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == PROD)
    plan.args["ts"] = fake_slack.posted_ts(plan)
    click(flow_server, plan, "rb_confirm", "U0ALICE")
    waiting = latest_update(fake_slack, "Awaiting approval")
    click(flow_server, waiting, "rb_deny", "U0CAROL")
    (opened,) = fake_slack.wait_for("views.open")
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    submit_reason(flow_server, view, "U0CAROL", "<!channel> wake <@U0BOB> & <https://evil.example|click>")
    denied = latest_update(fake_slack, "Denied:")
    fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == AUDIT and "denied" in str(c.args["text"]))
    posted = json.dumps([c.args for c in fake_slack.calls if c.method in ("chat.postMessage", "chat.update")])
    assert "&lt;!channel&gt; wake &lt;@U0BOB&gt; &amp; &lt;https://evil.example|click&gt;" in all_text(
        denied.args["blocks"]
    )
    for raw in ("<!channel>", "<@U0BOB>", "<https://evil.example|click>"):
        assert raw not in posted, f"{raw} would reach Slack as markup"
    assert not cordoned(e2e_admin)
