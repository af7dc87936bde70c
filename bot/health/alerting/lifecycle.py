"""The alert lifecycle per (cluster, check, subject): pending → firing → resolved, stored.

- A finding opens a *pending* alert, ``since`` = when the object says the condition began (a
  node's Ready transition, a pod's creation…) or, failing that, now.
- It *fires* once the condition has held for the check's duration: one message, routed by
  cluster and severity.
- While firing and neither acked nor silenced, it is re-notified every ``renotify_minutes``
  (a broadcast reply in its thread); a rise in severity is told at once.
- When a sweep that evaluated the check no longer finds it, it *resolves*: the same message is
  updated and a reply posted in its thread. A pending alert that clears resolves silently.

Every notification follows a compare-and-set in the store, so replicas (or a restarted leader)
never post twice. A post that failed (or whose poster died) is retried after ``retry_post``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config.settings import Settings
from bot.health.alerting.alert_messages import (
    RunbookExists,
    alert_report,
    escalation_text,
    finding_details,
    reminder_text,
    resolved_text,
)
from bot.health.alerting.ports import AlertPoster, MessageRef, PostError
from bot.health.checks import HEALTH_CHECKS, SEVERITY_RANK, CheckRegistry, ChecksConfig, Evaluation, Finding
from bot.metrics import ALERT_EVENTS
from bot.store import AlertRecord, Store

log = logging.getLogger("bot.health")
#: How often an unchanged, still-present finding refreshes its alert's ``last_seen``.
SEEN_EVERY = timedelta(minutes=10)


def alert_channel(settings: Settings, cluster: str, severity: str) -> str | None:
    """The channel of an alert: the first matching route, else the cluster's first channel."""
    environment = settings.clusters[cluster].environment if cluster in settings.clusters else ""
    for route in settings.health.routes:
        if route.matches(cluster, environment, severity):
            return route.channel
    channels = settings.clusters[cluster].channels if cluster in settings.clusters else []
    return channels[0] if channels else None


def _enabled(checks: ChecksConfig, name: str) -> bool:
    """False for a check turned off (or no longer known): its open alerts are closed."""
    try:
        return checks.get(name).enabled
    except KeyError:
        return False


@dataclass
class LifecycleCounts:
    """What one application of a sweep did (for logs and tests)."""

    opened: int = 0
    fired: int = 0
    renotified: int = 0
    resolved: int = 0


class AlertLifecycle:
    """Applies sweeps to the stored alerts and tells the channel what changed."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        poster: AlertPoster | None,
        runbook_exists: RunbookExists,
        *,
        identity: str = "bot",
        clock: Callable[[], datetime],
        retry_post: timedelta = timedelta(minutes=2),
        checks: CheckRegistry = HEALTH_CHECKS,
    ) -> None:
        self.settings = settings
        self.store = store
        self.poster = poster
        self.runbook_exists = runbook_exists
        self.identity = identity
        self.clock = clock
        self.retry_post = retry_post
        self.checks = checks

    def apply(self, cluster: str, evaluation: Evaluation) -> LifecycleCounts:
        """Update the alerts of ``cluster`` with one sweep's evaluation."""
        now = self.clock()
        checks = self.checks.configure(self.settings.health.checks)
        counts = LifecycleCounts()
        open_alerts = {a.key: a for a in self.store.open_alerts(cluster=cluster)}
        seen: set[str] = set()
        for f in evaluation.findings:
            key = f"{cluster}/{f.check}/{f.subject}"
            if key in seen:
                continue
            seen.add(key)
            alert = open_alerts.get(key)
            if alert is None:
                alert = self._open(cluster, key, f, now)
                if alert is None:
                    continue
                counts.opened += 1
            else:
                escalated = self._refresh(alert, f, now)
                if escalated and alert.state == "firing":
                    self._escalate(alert)
            self._advance(alert, now, counts, checks)
        for key, alert in open_alerts.items():
            gone = alert.check_name in evaluation.evaluated or not _enabled(checks, alert.check_name)
            if key not in seen and gone and self._resolve(alert, now):
                counts.resolved += 1
        return counts

    # -- steps ------------------------------------------------------------------------------------
    def _open(self, cluster: str, key: str, f: Finding, now: datetime) -> AlertRecord | None:
        alert = AlertRecord(
            id=secrets.token_hex(6),
            key=key,
            cluster=cluster,
            check_name=f.check,
            subject=f.subject,
            severity=f.severity,
            state="pending",
            summary=f.summary,
            details=finding_details(f),
            since=min(f.since, now) if f.since else now,
            first_seen=now,
            last_seen=now,
        )
        return alert if self.store.open_alert(alert) else None

    def _refresh(self, alert: AlertRecord, f: Finding, now: datetime) -> bool:
        """Record what changed about a finding that is still there; True when its severity rose.

        Nothing is written when nothing changed (``last_seen`` is refreshed at most every
        ``SEEN_EVERY``): a sweep of a cluster with a thousand open alerts stays cheap.
        """
        escalated = SEVERITY_RANK.get(f.severity, 0) > SEVERITY_RANK.get(alert.severity, 0)
        details = finding_details(f)
        same = (alert.summary, alert.details, alert.severity) == (f.summary, details, f.severity)
        if same and now - alert.last_seen < SEEN_EVERY:
            return False
        self.store.update_alert(alert.id, last_seen=now, summary=f.summary, details=details, severity=f.severity)
        alert.last_seen, alert.summary, alert.details, alert.severity = now, f.summary, details, f.severity
        return escalated

    def _advance(self, alert: AlertRecord, now: datetime, counts: LifecycleCounts, checks: ChecksConfig) -> None:
        duration = checks.get(alert.check_name).duration
        if alert.state == "pending":
            if now - alert.since >= duration and self._fire(alert, now):
                counts.fired += 1
            return
        if alert.message_ts is None:
            self._retry_post(alert, now)
        elif self._renotify_due(alert, now) and self._renotify(alert, now):
            counts.renotified += 1

    def _fire(self, alert: AlertRecord, now: datetime) -> bool:
        channel = alert_channel(self.settings, alert.cluster, alert.severity)
        fired = self.store.alert_transition(
            alert.id,
            ["pending"],
            "firing",
            fired_at=now,
            channel=channel,
            post_claimed_at=now,
            post_claimed_by=self.identity,
            last_notified_at=now,
            notify_count=1,
        )
        if not fired:
            return False
        alert.state, alert.fired_at, alert.channel, alert.last_notified_at = "firing", now, channel, now
        ALERT_EVENTS.labels(check=alert.check_name, severity=alert.severity, event="fired").inc()
        log.info("alert firing", extra={"alert": alert.id, "key": alert.key, "channel": channel})
        if channel is None:
            log.warning("no channel routes this alert", extra={"alert": alert.id, "cluster": alert.cluster})
            return True
        self._post(alert, channel, now)
        return True

    def _post(self, alert: AlertRecord, channel: str, now: datetime) -> None:
        if self.poster is None:
            return
        try:
            ref = self.poster.post(channel, alert_report(alert, now, self.runbook_exists, checks=self.checks))
        except PostError as exc:
            log.warning("cannot post an alert; will retry", extra={"alert": alert.id, "error": exc.reason})
            return
        self.store.update_alert(alert.id, channel=ref.channel, message_ts=ref.ts)
        alert.channel, alert.message_ts = ref.channel, ref.ts

    def _retry_post(self, alert: AlertRecord, now: datetime) -> None:
        """Post a firing alert whose message never made it (a failed post or a poster that died)."""
        if alert.channel is None or self.poster is None:
            return
        claimed = alert.post_claimed_at
        if claimed is not None and now - claimed < self.retry_post:
            return
        if self.store.claim_alert(
            alert.id, "post_claimed_at", claimed, post_claimed_at=now, post_claimed_by=self.identity
        ):
            self._post(alert, alert.channel, now)

    def _renotify_due(self, alert: AlertRecord, now: datetime) -> bool:
        every = self.settings.health.renotify_minutes
        if not every or alert.acked_by or alert.silenced(now):
            return False
        last = alert.last_notified_at or alert.fired_at or now
        return now - last >= timedelta(minutes=every)

    def _renotify(self, alert: AlertRecord, now: datetime) -> bool:
        if not self.store.claim_alert(
            alert.id,
            "last_notified_at",
            alert.last_notified_at,
            last_notified_at=now,
            notify_count=alert.notify_count + 1,
        ):
            return False
        alert.last_notified_at, alert.notify_count = now, alert.notify_count + 1
        ALERT_EVENTS.labels(check=alert.check_name, severity=alert.severity, event="renotified").inc()
        self._tell(alert, now, reminder_text(alert, now), broadcast=True)
        return True

    def _escalate(self, alert: AlertRecord) -> None:
        now = self.clock()
        if self.store.claim_alert(alert.id, "last_notified_at", alert.last_notified_at, last_notified_at=now):
            alert.last_notified_at = now
            self._tell(alert, now, escalation_text(alert), broadcast=True)

    def _resolve(self, alert: AlertRecord, now: datetime) -> bool:
        if not self.store.alert_transition(alert.id, [alert.state], "resolved", resolved_at=now):
            return False
        was_firing = alert.state == "firing"
        alert.state, alert.resolved_at = "resolved", now
        if was_firing:
            log.info("alert resolved", extra={"alert": alert.id, "key": alert.key})
            ALERT_EVENTS.labels(check=alert.check_name, severity=alert.severity, event="resolved").inc()
            self._tell(alert, now, resolved_text(alert))
        return was_firing

    def _tell(self, alert: AlertRecord, now: datetime, text: str, *, broadcast: bool = False) -> None:
        """Update the alert's message to its current state and reply in its thread."""
        if self.poster is None or not alert.channel or not alert.message_ts:
            return
        ref = MessageRef(alert.channel, alert.message_ts)
        try:
            self.poster.update(ref, alert_report(alert, now, self.runbook_exists, checks=self.checks))
            self.poster.reply(ref, text, broadcast=broadcast)
        except PostError as exc:
            log.warning("cannot update an alert message", extra={"alert": alert.id, "error": exc.reason})
