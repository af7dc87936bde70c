"""The alert buttons: Ack, Silence 1h/4h/24h, and "run the runbook that fixes it".

Ack and Silence change the stored alert (any replica may take the click) and re-render its
message. The runbook button only *names* the command: the surface hands it to the normal run
flow (plan → authorize → confirm/approve), exactly as if the clicker had typed it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.durations import clock_time, human_duration
from bot.errors import UserError
from bot.health.alerting.alert_messages import SILENCES, RunbookExists, alert_report, offered_runs
from bot.health.alerting.ports import AlertPoster, MessageRef, PostError
from bot.health.checks import HEALTH_CHECKS, CheckRegistry
from bot.store import AlertRecord, Store

log = logging.getLogger("bot.health")


class AlertActions:
    """What the buttons of an alert message do."""

    def __init__(
        self,
        store: Store,
        poster: AlertPoster | None,
        runbook_exists: RunbookExists,
        *,
        clock: Callable[[], datetime],
        checks: CheckRegistry = HEALTH_CHECKS,
    ) -> None:
        self.store = store
        self.checks = checks
        self.poster = poster
        self.runbook_exists = runbook_exists
        self.clock = clock

    def _get(self, alert_id: str) -> AlertRecord:
        alert = self.store.get_alert(alert_id)
        if alert is None:
            raise UserError(f"there is no alert {alert_id}")
        return alert

    def ack(self, alert_id: str, who: str) -> str:
        """Acknowledge: no more reminders for this alert; its resolution is still posted."""
        alert = self._get(alert_id)
        if alert.state != "firing":
            return f"this alert is {alert.state}; nothing to acknowledge"
        now = self.clock()
        if not self.store.claim_alert(alert_id, "acked_by", None, acked_by=who, acked_at=now):
            return f"already acknowledged by {self._get(alert_id).acked_by}"
        self._refresh(alert_id, f"Acknowledged by {who}; no more reminders.")
        return "acknowledged"

    def silence(self, alert_id: str, who: str, length: str) -> str:
        """Silence reminders for 1h, 4h or 24h."""
        if length not in SILENCES:
            raise UserError(f"unknown silence {length!r}; use one of {', '.join(SILENCES)}")
        alert = self._get(alert_id)
        if alert.state != "firing":
            return f"this alert is {alert.state}; nothing to silence"
        until = self.clock() + SILENCES[length]
        self.store.update_alert(alert_id, silenced_until=until, silenced_by=who)
        when = clock_time(until, self.clock())
        self._refresh(alert_id, f"Silenced by {who} for {human_duration(SILENCES[length])} (until {when}).")
        return f"silenced until {when}"

    def runbook_command(self, alert_id: str, index: int) -> tuple[str, AlertRecord]:
        """The command the alert's ``index``-th runbook button stands for (UserError when gone)."""
        alert = self._get(alert_id)
        if alert.state == "resolved":
            raise UserError("this alert is resolved; run the runbook from the command line if you still need it")
        offered = dict(offered_runs(alert, self.runbook_exists))
        if index not in offered:
            raise UserError("this button is out of date; the alert no longer offers that runbook")
        return str(offered[index]["command"]), alert

    def _refresh(self, alert_id: str, note: str) -> None:
        alert = self._get(alert_id)
        if self.poster is None or not alert.channel or not alert.message_ts:
            return
        ref = MessageRef(alert.channel, alert.message_ts)
        try:
            self.poster.update(ref, alert_report(alert, self.clock(), self.runbook_exists, checks=self.checks))
            self.poster.reply(ref, note)
        except PostError as exc:
            log.warning("cannot update an alert message", extra={"alert": alert_id, "error": exc.reason})
