"""Drive the bot through signed Slack requests: slash commands, button clicks, modal submissions."""

from __future__ import annotations

import time
import uuid
from typing import Any, Protocol

from slack_sdk.models.blocks import Block

from tests.harness.bot_server import SIGNING_SECRET
from tests.harness.slack_server import FakeSlack, SlackCall
from tests.harness.slack_signing import event_body, interaction_body, signed_headers, slash_command_body

AUDIT = "C0AUDIT"
PROD = "C0PROD"
STAGING = "C0STAGING"


class SlackEndpoint(Protocol):
    """Where Slack's requests go: the in-process ``BotServer`` or a ``BotProcess`` replica."""

    def post(self, path: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
        """POST and return (status, body)."""
        ...


def all_text(blocks: list[dict[str, Any]]) -> str:
    """Every text of a message's blocks, one per line."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(found)


def command(server: SlackEndpoint, slack: FakeSlack, text: str, user: str, channel: str = PROD) -> None:
    body = slash_command_body(text, user_id=user, channel_id=channel, response_url=slack.response_url())
    assert server.post("/slack/events", body, signed_headers(SIGNING_SECRET, body))[0] == 200


def click(
    server: SlackEndpoint, message: SlackCall, action_id: str, user: str, *, secret: str = SIGNING_SECRET
) -> None:
    body = action_body(message, action_id, user)
    assert server.post("/slack/events", body, signed_headers(secret, body))[0] == 200


def action_body(message: SlackCall, action_id: str, user: str) -> str:
    """The form body Slack posts when ``user`` clicks button ``action_id`` of ``message``."""
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
    return interaction_body(payload)


def submit_reason(server: SlackEndpoint, view: dict[str, Any], user: str, reason: str) -> None:
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


def open_home(server: SlackEndpoint, user: str, *, secret: str = SIGNING_SECRET) -> None:
    """The user opens the app's Home tab: a signed ``app_home_opened`` event (JSON envelope)."""
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": f"D{user}",
        "tab": "home",
        "event_ts": str(time.time()),
    }
    body = event_body(event)
    headers = signed_headers(secret, body, content_type="application/json")
    assert server.post("/slack/events", body, headers)[0] == 200


def home_buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button of a Home view."""
    return [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


def click_home(server: SlackEndpoint, view: dict[str, Any], action_id: str, user: str, value_prefix: str) -> None:
    """Click a button of the user's Home (``block_actions`` from a view: no channel, the view instead)."""
    (button,) = [b for b in home_buttons(view) if b["action_id"] == action_id and b["value"].startswith(value_prefix)]
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEST"},
        "api_app_id": "A0BOT",
        "token": "unused",
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "container": {"type": "view", "view_id": view["id"]},
        "view": view,
        "trigger_id": f"t.{uuid.uuid4().hex}",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "home",
                "value": button["value"],
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
    }
    body = interaction_body(payload)
    assert server.post("/slack/events", body, signed_headers(SIGNING_SECRET, body))[0] == 200
