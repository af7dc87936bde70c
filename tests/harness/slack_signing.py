"""Sign requests the way Slack does (v0 HMAC-SHA256 over ``v0:<timestamp>:<body>``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode


def signature(secret: str, timestamp: int, body: str) -> str:
    """The ``X-Slack-Signature`` value."""
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return "v0=" + mac.hexdigest()


def signed_headers(
    secret: str, body: str, *, timestamp: int | None = None, content_type: str = "application/x-www-form-urlencoded"
) -> dict[str, str]:
    """Headers of a genuine Slack request with ``body``, signed at ``timestamp`` (default now)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(secret, ts, body),
    }


def slash_command_body(
    text: str,
    *,
    user_id: str = "U0ALICE",
    channel_id: str = "C0OPS",
    response_url: str = "",
    command: str = "/k8s",
    trigger_id: str | None = None,
) -> str:
    """A form-encoded slash-command payload as Slack sends it."""
    return urlencode(
        {
            "token": "legacy-unused",
            "team_id": "T0TEST",
            "team_domain": "test",
            "channel_id": channel_id,
            "channel_name": "ops",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0BOT",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or f"t.{uuid.uuid4().hex}",
        }
    )


def interaction_body(payload: dict[str, Any]) -> str:
    """An interactive (block_actions) payload: form-encoded ``payload=<json>``."""
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], *, team_id: str = "T0TEST") -> str:
    """An Events API delivery: the JSON ``event_callback`` envelope around ``event``."""
    return json.dumps(
        {
            "token": "legacy-unused",
            "team_id": team_id,
            "api_app_id": "A0BOT",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team_id, "user_id": "UBOT", "is_bot": True}],
        }
    )
