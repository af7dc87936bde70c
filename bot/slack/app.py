"""The Bolt app: ``/k8s`` acknowledged at once, the work done in a lazy listener after the ack."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.bootstrap import Bot
from bot.engine.engine import error_report, new_ref
from bot.engine.identity import IdentityMapper
from bot.engine.service import handle_command
from bot.errors import UserError
from bot.metrics import COMMANDS, RUN_SECONDS
from bot.report import Report
from bot.slack.blocks import report_blocks, report_fallback_text
from bot.slack.identity import SlackProfiles

log = logging.getLogger("bot.slack")


def web_client(bot: Bot) -> WebClient:
    """A Web API client honouring the configured base URL (a local server in tests)."""
    s = bot.settings.slack
    token = s.bot_token.get_secret_value() if s.bot_token else None
    return WebClient(token=token, base_url=s.api_base_url, timeout=15)


def build_app(bot: Bot, *, client: WebClient | None = None, token_verification: bool = True) -> App:
    """The Bolt app with every listener registered."""
    s = bot.settings.slack
    client = client or web_client(bot)
    secret = s.signing_secret.get_secret_value() if s.signing_secret else None
    app = App(
        client=client,
        signing_secret=secret,
        request_verification_enabled=s.mode == "http",
        token_verification_enabled=token_verification,
        process_before_response=False,
        ignoring_self_events_enabled=True,
    )
    need_groups = bool(bot.settings.identity.user_groups)
    mapper = IdentityMapper(
        bot.settings.identity, SlackProfiles(client, need_groups, bot.settings.identity.cache_seconds)
    )
    register_commands(app, bot, mapper)
    return app


def _post(client: WebClient, respond: Respond, channel: str, report: Report) -> None:
    """Post to the channel; fall back to the command's response URL when the bot is not a member."""
    blocks = [b.to_dict() for b in report_blocks(report)]
    text = report_fallback_text(report)
    try:
        client.chat_postMessage(channel=channel, blocks=blocks, text=text)
    except SlackApiError as exc:
        if exc.response.get("error") not in ("not_in_channel", "channel_not_found", "is_archived"):
            raise
        respond(blocks=blocks, text=text, response_type="in_channel")


def register_commands(app: App, bot: Bot, mapper: IdentityMapper) -> None:
    """``/k8s <runbook> [args]``: ack first, then plan/execute and post the outcome."""

    def ack_fast(ack: Ack) -> None:
        ack()

    def run_command(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        started = time.monotonic()
        user_id = body.get("user_id", "")
        channel = body.get("channel_id", "")
        text = body.get("text", "") or ""
        ref = new_ref()
        runbook = (text.split() or ["help"])[0][:40]
        try:
            requester = mapper.requester(user_id)
        except UserError as exc:
            respond(
                blocks=[b.to_dict() for b in report_blocks(error_report(exc, ref))],
                text=exc.message,
                response_type="ephemeral",
            )
            COMMANDS.labels(runbook="-", outcome="refused").inc()
            return
        outcome = handle_command(bot.engine, text, requester, channel)
        known = runbook if bot.catalog.get(runbook) else "-"
        try:
            if outcome.ok:
                _post(client, respond, channel, outcome.report)
            else:
                respond(
                    blocks=[b.to_dict() for b in report_blocks(outcome.report)],
                    text=report_fallback_text(outcome.report),
                    response_type="ephemeral",
                )
        except SlackApiError as exc:
            log.error("cannot post to Slack", extra={"ref": ref, "error": exc.response.get("error")})
        COMMANDS.labels(runbook=known, outcome="ok" if outcome.ok else "error").inc()
        RUN_SECONDS.labels(runbook=known).observe(time.monotonic() - started)

    app.command(bot.settings.slack.command)(ack=ack_fast, lazy=[run_command])
