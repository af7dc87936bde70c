"""The Bolt app: ``/k8s`` and the run buttons, acknowledged at once, worked after the ack."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.engine.bootstrap import Bot
from bot.engine.engine import error_report, new_ref
from bot.engine.identity import IdentityMapper
from bot.errors import UserError
from bot.health.alerting.ports import PostError
from bot.metrics import COMMANDS, RUN_SECONDS
from bot.report import Report
from bot.slack.alerts import alert_access, register_alert_interactions
from bot.slack.blocks import report_fallback_text
from bot.slack.home import HomeTab, register_home, with_home
from bot.slack.identity import SlackProfiles
from bot.slack.interactions import register_interactions
from bot.slack.messages import AuditChannel, RunMessages
from bot.slack.run_buttons import register_run_buttons
from bot.slack.writer import SlackWriter, blocks_of

log = logging.getLogger("bot.slack")


def web_client(bot: Bot) -> WebClient:
    """A Web API client honouring the configured base URL (a local server in tests)."""
    s = bot.settings.slack
    token = s.bot_token.get_secret_value() if s.bot_token else None
    client = WebClient(token=token, base_url=s.api_base_url, timeout=15)
    # 429s wait for Slack's Retry-After; dropped connections are retried (the SDK's own handlers).
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def build_app(bot: Bot, *, client: WebClient | None = None, token_verification: bool = True) -> App:
    """The Bolt app with every listener registered; the audit channel wired to the run service."""
    s = bot.settings.slack
    client = client or web_client(bot)
    secret = s.signing_secret.get_secret_value() if s.signing_secret else None
    app = App(
        client=client,
        # Runs the lazy listeners (planning, read-only runbooks, decisions); runs execute on their own pool.
        listener_executor=ThreadPoolExecutor(max_workers=s.ack_workers, thread_name_prefix="slack"),
        signing_secret=secret,
        request_verification_enabled=s.mode == "http",
        token_verification_enabled=token_verification,
        # Every listener is an instant ack plus lazy work, so the ack runs in the thread that received
        # the request. With False, Bolt queues each ack on the same executor as the lazy work: a burst
        # of commands (50 /k8s status while drains run) left acks waiting behind planning for seconds.
        process_before_response=True,
        ignoring_self_events_enabled=True,
    )
    ident = bot.settings.identity
    mapper = IdentityMapper(ident, SlackProfiles(client, bool(ident.user_groups), ident.cache_seconds))
    writer = SlackWriter(client)
    messages = RunMessages(writer, bot.store).bind(bot.runs.report_for)
    bot.runs.notifier = messages
    home = HomeTab(bot, mapper, client, alert_access(bot))
    bot.runs.audit_sink = with_home(AuditChannel(writer, bot.store, s.audit_channel), home)
    register_commands(app, bot, mapper, messages)
    register_interactions(app, bot, mapper, messages, home=home)
    register_alert_interactions(app, bot, mapper, messages, home=home)
    register_run_buttons(app, bot, mapper, messages)
    register_home(app, home)
    return app


def _respond(respond: Respond, report: Report, response_type: str = "ephemeral") -> None:
    respond(blocks=blocks_of(report), text=report_fallback_text(report), response_type=response_type)


def register_commands(app: App, bot: Bot, mapper: IdentityMapper, messages: RunMessages) -> None:
    """``/k8s <runbook> [args]``: ack first, then plan (and run read-only runbooks) and post."""

    def ack_fast(ack: Ack) -> None:
        ack()

    def run_command(body: dict[str, Any], respond: Respond) -> None:
        started = time.monotonic()
        user_id, channel = body.get("user_id", ""), body.get("channel_id", "")
        text = body.get("text", "") or ""
        runbook = (text.split() or ["help"])[0][:40]
        known = runbook if bot.catalog.get(runbook) else "-"
        try:
            requester = mapper.requester(user_id)
        except UserError as exc:
            _respond(respond, error_report(exc, new_ref()))
            COMMANDS.labels(runbook=known, outcome="refused").inc()
            return
        outcome = bot.runs.request(text, requester, channel, request_key=body.get("trigger_id") or None)
        if outcome.duplicate or outcome.report is None:
            return
        try:
            if not outcome.ok:
                _respond(respond, outcome.report)
            elif outcome.run_id and outcome.pending:
                messages.post(outcome.run_id, channel, outcome.report)
            else:
                try:
                    posted = messages.writer.post(channel, outcome.report)
                    messages.attach(channel, outcome.report.attachments, thread_ts=posted.ts)
                except PostError as exc:
                    if exc.reason not in ("not_in_channel", "channel_not_found", "is_archived"):
                        raise
                    _respond(respond, outcome.report, "in_channel")
        except PostError as exc:
            log.error("cannot post to Slack", extra={"run_id": outcome.run_id, "error": exc.reason})
        COMMANDS.labels(runbook=known, outcome="ok" if outcome.ok else "error").inc()
        RUN_SECONDS.labels(runbook=known).observe(time.monotonic() - started)

    app.command(bot.settings.slack.command)(ack=ack_fast, lazy=[run_command])
