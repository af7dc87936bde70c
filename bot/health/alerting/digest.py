"""Scheduled digests: which cron time is due, what goes in it, and posting it exactly once.

Each digest tick is identified by (digest name, cron time). The store's ``claim_digest`` lets
only one replica — or one incarnation of a restarted leader — post a given tick.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.config.health import DigestSettings
from bot.config.settings import Settings
from bot.health.alerting.sweep import ClusterSweep
from bot.health.checks import backup_status, digest_report
from bot.report import Report
from bot.selectors import cluster_matches
from bot.store import Store

#: Looking back this far for "runs since the last digest" when there was none before.
FIRST_DIGEST_WINDOW = timedelta(hours=24)


def digest_trigger(digest: DigestSettings) -> CronTrigger:
    """The APScheduler cron trigger of a digest, in its time zone."""
    return CronTrigger.from_crontab(digest.cron, timezone=ZoneInfo(digest.timezone))


def due_fire_time(digest: DigestSettings, now: datetime) -> datetime | None:
    """The latest cron time at or before ``now`` within the misfire grace, or None (in UTC)."""
    trigger = digest_trigger(digest)
    start = now - timedelta(seconds=digest.misfire_grace_seconds)
    last: datetime | None = None
    fire: datetime | None = trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last.astimezone(UTC) if last is not None else None


def next_fire_time(digest: DigestSettings, after: datetime) -> datetime:
    """The first cron time at or after ``after`` (in UTC)."""
    fire: datetime | None = digest_trigger(digest).get_next_fire_time(None, after)
    assert fire is not None, "a five-field cron always fires again"
    return fire.astimezone(UTC)


def digest_clusters(settings: Settings, digest: DigestSettings) -> list[str]:
    """The configured clusters a digest covers (``*``, names, ``env:<environment>``)."""
    return [name for name, cs in settings.clusters.items() if cluster_matches(digest.clusters, name, cs.environment)]


def compose_digest(
    settings: Settings,
    store: Store,
    digest: DigestSettings,
    sweeps: list[ClusterSweep],
    scheduled_for: datetime,
    now: datetime,
) -> Report:
    """The digest of ``scheduled_for``: cluster glances, firing alerts, runs since the previous digest."""
    clusters = digest_clusters(settings, digest)
    previous = store.last_digest(digest.key, before=scheduled_for)
    since = previous.scheduled_for if previous is not None else scheduled_for - FIRST_DIGEST_WINDOW
    firing = [a for a in store.open_alerts(states=("firing",)) if a.cluster in clusters]
    resolved = [a for a in store.resolved_alerts(since=since, limit=200) if a.cluster in clusters]
    runs = [r for r in store.recent_runs(limit=500, since=since) if r.cluster in clusters]
    backups = {c: backup_status(settings, store, c) for c in clusters if c in settings.health.backups}
    local = scheduled_for.astimezone(ZoneInfo(digest.timezone))
    return digest_report(
        f"Health digest — {local:%a %d %b %H:%M} {digest.timezone}",
        now=now,
        glances=[s.glance for s in sweeps if s.cluster in clusters],
        firing=firing,
        runs=runs,
        runs_since=since,
        backups=backups,
        resolved=resolved,
    )
