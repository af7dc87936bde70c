"""``etcd_backup_age``: the newest successful etcd backup is older than allowed, or there is none.

Evaluated only for clusters with a backup source (``health.backups``): ``backups.backup_status``
finds the newest backup, this check judges its age.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config.health import Duration
from bot.durations import human_duration
from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import ETCD_BACKUPS, ClusterSnapshot


class BackupAgeSettings(CheckSettings):
    """The newest successful etcd backup may be at most ``max_age`` old (the schedule plus slack)."""

    max_age: Duration = timedelta(hours=26)


def find_overdue_backup(snap: ClusterSnapshot, settings: BackupAgeSettings, now: datetime) -> list[Finding]:
    """A finding when the cluster's newest backup is missing or older than its source allows."""
    backup = snap.backup
    if backup is None:
        return []
    if backup.last_success is None:
        summary = f"no successful etcd backup recorded ({backup.source})"
        return [Finding("etcd_backup_age", "etcd-backup", summary, settings.severity)]
    age = now - backup.last_success
    if age <= backup.max_age:
        return []
    return [
        Finding(
            "etcd_backup_age",
            "etcd-backup",
            f"last successful etcd backup is {human_duration(age)} old (allowed {human_duration(backup.max_age)}; "
            f"{backup.source})",
            settings.severity,
            backup.last_success + backup.max_age,
        )
    ]


ETCD_BACKUP_AGE = Check(
    name="etcd_backup_age",
    title="etcd backup overdue",
    why="Without a recent etcd backup, losing the control plane means losing the cluster state.",
    duration=timedelta(0),
    severity="warning",
    resources=(ETCD_BACKUPS,),
    settings=BackupAgeSettings,
    find=find_overdue_backup,
)
