"""e2e through signed Slack requests: command → plan → Confirm → Approve → message updated in place →
audit channel → `/k8s audit`; plus Deny through the reason modal."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from slack_sdk.models.blocks import Block

from tests.e2e.test_slash_commands import all_text
from tests.harness.bot_server import BOT_TOKEN, SIGNING_SECRET, BotServer, start_bot_server
from tests.harness.control_plane import ControlPlane
from tests.harness.slack_server import FakeSlack, SlackCall
from tests.harness.slack_signing import interaction_body, signed_headers, slash_command_body
from tests.harness.trust_setup import grant, settings

pytestmark = pytest.mark.e2e
AUDIT = "C0AUDIT"
PROD = "C0PROD"


@pytest.fixture
def flow_server(
    e2e_control_plane: ControlPlane,
    e2e_admin: client.ApiClient,
    fake_slack: FakeSlack,
    three_nodes: list[str],
    tmp_path: Path,
) -> Iterator[BotServer]:
    grant(e2e_admin)
    s = settings(e2e_control_plane.admin_kubeconfig, f"sqlite:///{tmp_path / 'bot.sqlite3'}", AUDIT)
    s.slack = s.slack.model_copy(
        update={
            "bot_token": BOT_TOKEN,
            "signing_secret": SIGNING_SECRET,
            "api_base_url": fake_slack.api_url,
            "mode": "http",
        }
    )
    from pydantic import SecretStr

    s.slack.bot_token = SecretStr(BOT_TOKEN)
    s.slack.signing_secret = SecretStr(SIGNING_SECRET)
    server = start_bot_server(s)
    yield server
    server.stop()
    client.CoreV1Api(e2e_admin).patch_node("node-1", {"spec": {"unschedulable": False}})


def command(server: BotServer, slack: FakeSlack, text: str, user: str, channel: str = PROD) -> None:
    body = slash_command_body(text, user_id=user, channel_id=channel, response_url=slack.response_url())
    assert server.post("/slack/events", body, signed_headers(SIGNING_SECRET, body))[0] == 200


def click(server: BotServer, message: SlackCall, action_id: str, user: str) -> None:
    (button,) = [
        e
        for b in message.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    ]
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEST"},
        "api_app_id": "A0BOT",
        "token": "unused",
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "channel": {"id": message.args["channel"], "name": "prod-ops"},
        "container": {"type": "message", "message_ts": message.args.get("ts"), "channel_id": message.args["channel"]},
        "message": {"ts": message.args.get("ts"), "text": message.args.get("text")},
        "trigger_id": f"t.{uuid.uuid4().hex}",
        "response_url": "",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b",
                "value": button["value"],
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
    }
    body = interaction_body(payload)
    assert server.post("/slack/events", body, signed_headers(SIGNING_SECRET, body))[0] == 200


def submit_reason(server: BotServer, view: dict[str, Any], user: str, reason: str) -> None:
    payload = {
        "type": "view_submission",
        "team": {"id": "T0TEST"},
        "api_app_id": "A0BOT",
        "token": "unused",
        "user": {"id": user, "team_id": "T0TEST"},
        "trigger_id": f"t.{uuid.uuid4().hex}",
        "view": {
            **view,
            "id": "V1",
            "state": {"values": {"reason": {"text": {"type": "plain_text_input", "value": reason}}}},
        },
    }
    body = interaction_body(payload)
    assert server.post("/slack/events", body, signed_headers(SIGNING_SECRET, body))[0] == 200


def latest_update(slack: FakeSlack, text: str, channel: str = PROD) -> SlackCall:
    """The newest update of the run message once one contains ``text``."""
    slack.wait_match("chat.update", lambda c: c.args["channel"] == channel and text in all_text(c.args["blocks"]))
    call = [c for c in slack.of("chat.update") if c.args["channel"] == channel][-1]
    Block.parse_all(call.args["blocks"])
    return call


def cordoned(api: client.ApiClient) -> bool:
    return bool(client.CoreV1Api(api).read_node("node-1").spec.unschedulable)


def test_command_confirm_approve_updates_one_message_and_audits(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient
) -> None:
    command(flow_server, fake_slack, "cordon node-1", "U0ALICE")
    (plan,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == PROD)
    Block.parse_all(plan.args["blocks"])
    text = all_text(plan.args["blocks"])
    assert "Plan: cordon on prod" in text and "cordon node node-1" in text and "patch nodes `node-1`" in text
    plan.args["ts"] = fake_slack.posted_ts(plan)
    assert not cordoned(e2e_admin)

    click(flow_server, plan, "rb_confirm", "U0ALICE")
    waiting = latest_update(fake_slack, "Awaiting approval")
    assert waiting.args["ts"] == plan.args["ts"], "the same message is updated in place"

    click(flow_server, waiting, "rb_approve", "U0ALICE")
    (notice,) = fake_slack.wait_for("chat.postEphemeral")
    assert notice.args["user"] == "U0ALICE" and "two-person rule" in notice.args["text"]

    click(flow_server, waiting, "rb_approve", "U0BOB")
    done = latest_update(fake_slack, "Done:")
    assert done.args["ts"] == plan.args["ts"]
    done_text = all_text(done.args["blocks"])
    assert "Done: cordon on prod" in done_text and "1 of 1: U0BOB" in done_text
    assert [b for b in done.args["blocks"] if b["type"] == "actions"] == [], "no buttons once finished"
    assert cordoned(e2e_admin)

    click(flow_server, waiting, "rb_approve", "U0ERIN")  # a replayed click on the old message
    fake_slack.wait_match("chat.postEphemeral", lambda c: "already succeeded" in c.args["text"])

    fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == AUDIT and "*succeeded*" in c.args["text"])
    audit = [c for c in fake_slack.of("chat.postMessage") if c.args["channel"] == AUDIT]
    headline, *thread = audit
    assert "U0ALICE (alice)" in headline.args["text"] and "`cordon node-1`" in headline.args["text"]
    kinds = " ".join(c.args["text"] for c in thread)
    for kind in ("planned", "confirmed", "approval requested", "approved", "succeeded"):
        assert f"*{kind}*" in kinds
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
    assert "Denied: cordon on prod" in text and "change freeze until Monday" in text
    assert not cordoned(e2e_admin)
