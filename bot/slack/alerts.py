"""Alerts and digests in Slack: the poster behind ``bot.health.alerting``, and the alert buttons.

Buttons: ``rb_alert_ack``, ``rb_alert_silence_{1h,4h,24h}``, ``rb_alert_run_<i>``. Ack and
Silence need ``policies.access.alerts`` on the alert's cluster (SubjectAccessReview; refusals are
audited), change the stored alert and re-render its message; the same two buttons on the App Home
answer on the clicker's Home. A runbook button starts the command
the alert names through the normal flow — ``RunService.request`` as the clicker — so the plan
is posted with Confirm/Cancel and goes through the same RBAC check and approvals as if typed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.engine.bootstrap import Bot
from bot.engine.identity import IdentityMapper
from bot.errors import UserError
from bot.health.alerting import AlertAccess, AlertActions, HealthService, MessageRef, PostError
from bot.health.alerting.actions import who
from bot.model import Requester
from bot.slack.home import HomeTab
from bot.slack.messages import RunMessages
from bot.slack.writer import SlackWriter

log = logging.getLogger("bot.slack")
ALERT_ACTION = re.compile(r"^rb_alert_(ack|silence_(1h|4h|24h)|run_(\d+))$")


def runbook_exists(bot: Bot) -> Callable[[str], bool]:
    """A predicate: is a runbook of this name loaded?"""
    return lambda name: bot.catalog.get(name) is not None


def build_health(bot: Bot, client: WebClient) -> HealthService:
    """The health service of ``bot``, posting to Slack through ``client``."""
    return HealthService(bot.settings, bot.kube, bot.store, SlackWriter(client), runbook_exists=runbook_exists(bot))


def alert_access(bot: Bot) -> AlertAccess:
    """Who may act on (and see on Home) the alerts of each cluster: ``policies.access.alerts``."""
    return AlertAccess(bot.kube, bot.settings.policies.access.alerts, list(bot.settings.clusters))


def tell_clicker(messages: RunMessages, home: HomeTab | None, channel: str, user_id: str, text: str) -> None:
    """Ephemeral in the alert's channel (their Home, if open here, follows), or at the top of the clicker's
    Home for a click made there."""
    if home is None:
        messages.notice(channel, user_id, text)
    elif channel:
        messages.notice(channel, user_id, text)
        home.refresh(user_id)
    else:
        home.notice(user_id, text)


def register_alert_interactions(
    app: App, bot: Bot, mapper: IdentityMapper, messages: RunMessages, *, home: HomeTab | None = None
) -> AlertActions:
    """Register the alert buttons; returns the actions object they use."""
    poster = messages.writer
    actions = AlertActions(
        bot.store, poster, runbook_exists(bot), clock=lambda: bot.runs.clock(), access=alert_access(bot)
    )

    def on_click(ack: Ack) -> None:
        ack()

    def tell(channel: str, user_id: str, text: str) -> None:
        tell_clicker(messages, home, channel, user_id, text)

    def after_click(body: dict[str, Any]) -> None:
        action = body["actions"][0]
        match = ALERT_ACTION.match(action["action_id"])
        if match is None:
            return
        alert_id = str(action.get("value", "")).partition(":")[0]
        user_id = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id", "")
        try:
            actor = mapper.requester(user_id)
            if match.group(1) == "ack":
                tell(channel, user_id, actions.ack(alert_id, actor))
            elif match.group(2):
                tell(channel, user_id, actions.silence(alert_id, actor, match.group(2)))
            else:
                start_runbook(alert_id, int(match.group(3)), actor, channel, body.get("trigger_id"))
        except UserError as exc:
            tell(channel, user_id, exc.message + (f" — {exc.hint}" if exc.hint else ""))

    def start_runbook(alert_id: str, index: int, actor: Requester, channel: str, trigger: str | None) -> None:
        command, alert = actions.runbook_command(alert_id, index)
        outcome = bot.runs.request(command, actor, channel, request_key=f"alert:{trigger}" if trigger else None)
        if outcome.duplicate or outcome.report is None:
            return
        report = outcome.report
        thread = MessageRef(alert.channel, alert.message_ts) if alert.channel and alert.message_ts else None
        if not outcome.ok:
            lines = [line for part in report.parts for line in getattr(part, "lines", [])]
            messages.notice(channel, actor.chat_id, " ".join([f"{report.title}: {report.summary or ''}", *lines]))
            return
        try:
            if outcome.run_id and outcome.pending:
                messages.post(outcome.run_id, channel, report)
            elif thread is not None:
                poster.post(thread.channel, report, thread=thread)
            if thread is not None and outcome.pending:
                poster.reply(thread, f"{who(actor)} requested `{command}` (run {outcome.run_id})")
        except PostError as exc:
            log.error("cannot post the runbook plan", extra={"alert": alert_id, "error": str(exc)})

    app.action(ALERT_ACTION)(ack=on_click, lazy=[after_click])
    return actions
