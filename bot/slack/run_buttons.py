"""Runbook buttons inside a report (``rb_run_<i>``), e.g. triage's Cordon / Drain / Replace node.

A button's value is a command line. Clicking it is exactly like typing that command: the run
service plans it *as the clicker*, asks the cluster's RBAC, and posts the plan with
Confirm/Cancel (approval rules apply as usual). A forged value can therefore do nothing the
clicker could not do by typing it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App

from bot.engine.bootstrap import Bot
from bot.engine.identity import IdentityMapper
from bot.errors import UserError
from bot.health.alerting.ports import PostError
from bot.slack.messages import RunMessages

log = logging.getLogger("bot.slack")
RUN_ACTION = re.compile(r"^rb_run_\d+$")


def register_run_buttons(app: App, bot: Bot, mapper: IdentityMapper, messages: RunMessages) -> None:
    """Register the ``rb_run_<i>`` listener: ack at once, request the command after the ack."""

    def on_click(ack: Ack) -> None:
        """Acknowledge within Slack's 3 seconds; the work happens in ``after_click``."""
        ack()

    def after_click(body: dict[str, Any]) -> None:
        """Request the button's command as the clicker and post its plan (or the refusal, to them only)."""
        action = body["actions"][0]
        command = str(action.get("value", "")).strip()
        user_id = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id", "")
        try:
            actor = mapper.requester(user_id)
        except UserError as exc:
            messages.notice(channel, user_id, exc.message)
            return
        trigger = body.get("trigger_id")
        outcome = bot.runs.request(command, actor, channel, request_key=f"button:{trigger}" if trigger else None)
        if outcome.duplicate or outcome.report is None:
            return
        report = outcome.report
        try:
            if not outcome.ok:
                lines = [line for part in report.parts for line in getattr(part, "lines", [])]
                messages.notice(channel, user_id, " ".join([f"{report.title}: {report.summary or ''}", *lines]))
            elif outcome.run_id and outcome.pending:
                messages.post(outcome.run_id, channel, report)
            else:
                messages.writer.post(channel, report)
        except PostError as exc:
            log.error("cannot post the runbook plan", extra={"error": exc.reason})

    app.action(RUN_ACTION)(ack=on_click, lazy=[after_click])
