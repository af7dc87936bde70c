"""The Slack app manifest asks for what the bot uses: the Home tab and its event, the slash command."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.config.settings import SlackSettings

MANIFEST = Path(__file__).resolve().parents[2] / "config" / "slack-app-manifest.yaml"


def test_the_home_tab_is_enabled_and_its_event_subscribed() -> None:
    doc = yaml.safe_load(MANIFEST.read_text())
    assert doc["features"]["app_home"]["home_tab_enabled"] is True
    events = doc["settings"]["event_subscriptions"]
    assert events["bot_events"] == ["app_home_opened"]
    assert events["request_url"] == doc["settings"]["interactivity"]["request_url"]


def test_the_slash_command_and_scopes_match_what_the_bot_calls() -> None:
    doc = yaml.safe_load(MANIFEST.read_text())
    assert [c["command"] for c in doc["features"]["slash_commands"]] == [SlackSettings().command]
    scopes = set(doc["oauth_config"]["scopes"]["bot"])
    # commands; chat.postMessage/update/postEphemeral; files.uploadV2; users.info (+ email); usergroups.list
    assert scopes == {"commands", "chat:write", "files:write", "users:read", "users:read.email", "usergroups:read"}
