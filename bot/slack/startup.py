"""Connecting to Slack at start-up: the Bolt app, or one line saying why Slack cannot be used.

Bolt checks the bot token with ``auth.test`` while the app is built. A token Slack refuses, or a
Web API that cannot be reached, becomes a ``BotError`` whose message names the cause and what to
check — the process exits with that line instead of a traceback (and a pod restarts to retry).
"""

from __future__ import annotations

import logging
from urllib.error import URLError

from slack_bolt import App
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.engine.bootstrap import Bot
from bot.errors import BotError
from bot.slack.app import build_app


def _slack_error_code(exc: BaseException) -> str | None:
    """The Web API error code (``invalid_auth``…) of a Bolt start-up failure, if Slack answered one."""
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, SlackApiError):
            return str(cur.response.get("error") or "error")
        cur = cur.__cause__ or cur.__context__
    return None


def connect_app(bot: Bot) -> App:
    """``build_app(bot)``, or a BotError with one line: Slack refused the token, or cannot be reached."""
    base = bot.settings.slack.api_base_url
    sdk_log = logging.getLogger("slack_sdk.web.base_client")
    level = sdk_log.level
    sdk_log.setLevel(logging.CRITICAL)  # its own line per retried attempt would precede ours, saying less
    try:
        return build_app(bot)
    except (BoltError, SlackApiError) as exc:
        code = _slack_error_code(exc) or "error"
        raise BotError(
            f"Slack refused the bot token ({code}) — check slack.bot_token (or slack.bot_token_file): the xoxb- "
            "token of this app's installation, reinstalled after scope changes"
        ) from None
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise BotError(
            f"cannot reach Slack's Web API at {base} ({reason}) — check slack.api_base_url and that this host may "
            "reach it (proxy, firewall, egress NetworkPolicy)"
        ) from None
    finally:
        sdk_log.setLevel(level)
