"""Scheduled backups: one cron job per cluster with ``backup.clusters.<c>.schedule``, run by the health leader.

``bot.health.service`` adds these jobs to its leader-only APScheduler; each run backs the cluster
up with the bot's own identity (``run_backup``), records it in the store — so the
``etcd_backup_age`` check sees the newest success — and posts the summary, or the failure and its
reason, to the audit channel.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.backup.runner import run_backup
from bot.backup.summary import backup_report
from bot.clients.kube import KubeClients
from bot.config.settings import Settings
from bot.errors import BotError
from bot.report import Report, Tone
from bot.store import Store

log = logging.getLogger("bot.backup")


@dataclass
class BackupJob:
    """One cluster's scheduled backup: its job id, cron trigger and the function to call."""

    id: str
    cluster: str
    trigger: CronTrigger
    misfire_grace_seconds: int
    run: Callable[[], Report]


def backup_jobs(
    settings: Settings,
    kube: KubeClients,
    store: Store,
    notify: Callable[[Report], None],
    *,
    clock: Callable[[], datetime],
) -> list[BackupJob]:
    """A job per cluster that has a backup schedule."""
    jobs = []
    for cluster, cfg in settings.backup.clusters.items():
        if cfg.schedule is None:
            continue
        sched = cfg.schedule
        trigger = CronTrigger.from_crontab(sched.cron, timezone=ZoneInfo(sched.timezone))

        def run(cluster: str = cluster, target: str | None = sched.target) -> Report:
            return scheduled_backup(settings, kube, store, cluster, target, notify, clock)

        jobs.append(BackupJob(f"etcd-backup-{cluster}", cluster, trigger, sched.misfire_grace_seconds, run))
    return jobs


def scheduled_backup(
    settings: Settings,
    kube: KubeClients,
    store: Store,
    cluster: str,
    target: str | None,
    notify: Callable[[Report], None],
    clock: Callable[[], datetime],
) -> Report:
    """Back ``cluster`` up now as the bot, record it, and tell the audit channel how it went."""
    stamp = clock().strftime("%Y%m%dT%H%M%SZ")
    try:
        run = run_backup(
            settings.backup,
            cluster,
            kube=kube.access(cluster, None),
            store=store,
            record_id=f"sched-{cluster}-{stamp}",
            emit=lambda line: log.info("scheduled backup: %s", line, extra={"cluster": cluster}),
            abort=threading.Event(),
            target=target,
            clock=clock,
        )
        report = backup_report(cluster, run)
        report.title = "Scheduled backup: " + report.title
    except BotError as exc:
        report = Report(title=f"Scheduled backup of {cluster} FAILED", tone=Tone.ERROR, summary=str(exc))
        report.context.append("nothing was listed as a valid backup; etcd_backup_age alerts when it is late")
    except Exception as exc:  # a scheduled job must report, not die silently
        log.exception("scheduled backup failed", extra={"cluster": cluster})
        report = Report(
            title=f"Scheduled backup of {cluster} FAILED",
            tone=Tone.ERROR,
            summary=f"internal error ({type(exc).__name__}); see the bot's logs",
        )
    try:
        notify(report)
    except Exception:  # the backup's outcome is recorded even if Slack is down
        log.exception("cannot post the scheduled backup report", extra={"cluster": cluster})
    return report
