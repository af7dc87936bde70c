"""The alert buttons: Ack, Silence 1h/4h/24h, and "run the runbook that fixes it".

Ack and Silence are allowed to people who hold ``policies.access.alerts`` on the alert's cluster
(SubjectAccessReview, ``AlertAccess``); each one — and each refusal — is an audit event. They change
the stored alert (any replica may take the click) and re-render its message. The runbook button
only *names* the command: the surface hands it to the normal run flow (plan → authorize →
confirm/approve), exactly as if the clicker had typed it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.durations import clock_time, human_duration
from bot.errors import DeniedError, UserError
from bot.health.alerting.access import AlertAccess
from bot.health.alerting.alert_messages import SILENCES, RunbookExists, alert_report, offered_runs, title_of
from bot.health.alerting.ports import AlertPoster, MessageRef, PostError
from bot.health.checks import HEALTH_CHECKS, CheckRegistry
from bot.model import Requester
from bot.store import AlertRecord, Store

log = logging.getLogger("bot.health")
ACCESS_HINT = (
    "ask for a ClusterRole that grants it (by default: update alerts in the API group runbook-bot.io — "
    "an RBAC-only resource, see policies.access.alerts)"
)


def who(actor: Requester) -> str:
    """``U0BOB (bob)``: the chat name and the Kubernetes user, as alert messages show the actor."""
    return actor.display_name + (f" ({actor.kube_user})" if actor.kube_user else "")


class AlertActions:
    """What the buttons of an alert message do."""

    def __init__(
        self,
        store: Store,
        poster: AlertPoster | None,
        runbook_exists: RunbookExists,
        *,
        clock: Callable[[], datetime],
        access: AlertAccess,
        checks: CheckRegistry = HEALTH_CHECKS,
    ) -> None:
        self.store = store
        self.access = access
        self.checks = checks
        self.poster = poster
        self.runbook_exists = runbook_exists
        self.clock = clock

    def _get(self, alert_id: str) -> AlertRecord:
        alert = self.store.get_alert(alert_id)
        if alert is None:
            raise UserError(f"there is no alert {alert_id}")
        return alert

    def _authorized(self, alert: AlertRecord, actor: Requester, what: str) -> None:
        """DeniedError (audited) unless ``actor`` holds the alert permissions on the alert's cluster."""
        refusal = self.access.refusal(alert.cluster, actor)
        if refusal is None:
            return
        self._audit(
            actor, "alert_refused", f"{who(actor)} may not {what} {title_of(alert, self.checks)}: {refusal}", alert
        )
        raise DeniedError(refusal, hint=ACCESS_HINT)

    def _audit(self, actor: Requester, kind: str, summary: str, alert: AlertRecord) -> None:
        self.store.add_audit(None, actor.chat_id, kind, summary, {"alert": alert.id, "cluster": alert.cluster})

    def ack(self, alert_id: str, actor: Requester) -> str:
        """Acknowledge: no more reminders for this alert; its resolution is still posted."""
        alert = self._get(alert_id)
        if alert.state != "firing":
            return f"this alert is {alert.state}; nothing to acknowledge"
        self._authorized(alert, actor, "acknowledge")
        now = self.clock()
        if not self.store.claim_alert(alert_id, "acked_by", None, acked_by=who(actor), acked_at=now):
            return f"already acknowledged by {self._get(alert_id).acked_by}"
        self._audit(actor, "alert_acked", f"{who(actor)} acknowledged {title_of(alert, self.checks)}", alert)
        self._refresh(alert_id, f"Acknowledged by {who(actor)}; no more reminders.")
        return "acknowledged"

    def silence(self, alert_id: str, actor: Requester, length: str) -> str:
        """Silence reminders for 1h, 4h or 24h."""
        if length not in SILENCES:
            raise UserError(f"unknown silence {length!r}; use one of {', '.join(SILENCES)}")
        alert = self._get(alert_id)
        if alert.state != "firing":
            return f"this alert is {alert.state}; nothing to silence"
        self._authorized(alert, actor, "silence")
        until = self.clock() + SILENCES[length]
        self.store.update_alert(alert_id, silenced_until=until, silenced_by=who(actor))
        span = human_duration(SILENCES[length])
        when = clock_time(until, self.clock())
        title = title_of(alert, self.checks)
        self._audit(actor, "alert_silenced", f"{who(actor)} silenced {title} for {span} (until {when})", alert)
        self._refresh(alert_id, f"Silenced by {who(actor)} for {span} (until {when}).")
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
