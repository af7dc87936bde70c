"""Where the last successful etcd backup of a cluster is read from (``health.backups``).

``store``: the newest ``succeeded`` record in the store's ``backups`` table — the etcd-backup
runbook is meant to write it (that runbook does not exist yet; until then an operator tool or
a test can record backups there). ``directory``: the newest file matching a pattern in a folder,
e.g. where an existing backup CronJob writes its snapshots (its modification time counts).
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config.settings import Settings
from bot.health.checks.etcd_backup_age import ETCD_BACKUP_AGE
from bot.health.checks.findings import BackupStatus
from bot.store import Store


def backup_status(settings: Settings, store: Store | None, cluster: str) -> BackupStatus | None:
    """The backup status of ``cluster``, or None when no backup source is configured for it."""
    cfg = settings.health.backups.get(cluster)
    if cfg is None:
        return None
    override = settings.health.checks.get(ETCD_BACKUP_AGE.name)
    max_age = cfg.max_age or ETCD_BACKUP_AGE.configure(override.fields() if override else None).max_age
    if cfg.source == "store":
        rec = store.last_backup(cluster) if store is not None else None
        return BackupStatus(rec.finished_at if rec else None, "backups recorded in the bot's store", max_age)
    assert cfg.directory is not None
    where = f"newest {cfg.pattern} in {cfg.directory}"
    try:
        files = [p for p in cfg.directory.glob(cfg.pattern) if p.is_file()]
    except OSError:
        files = []
    if not files:
        return BackupStatus(None, where, max_age)
    newest = max(p.stat().st_mtime for p in files)
    return BackupStatus(datetime.fromtimestamp(newest, UTC), where, max_age)
