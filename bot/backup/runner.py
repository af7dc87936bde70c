"""One backup of one cluster, whatever the mode, recorded in the store — for the runbook, the schedule and the CLI.

Mode (``backup.clusters.<c>.mode``; ``auto`` decides): **etcd** when etcd access is configured;
otherwise **velero** when Velero's ``backups.velero.io`` is served; otherwise **api_export**.
Every run is recorded in the store's ``backups`` table: ``running`` first, then ``succeeded`` (only
once the backup is listed — complete and verified) or ``failed``. The ``etcd_backup_age`` health
check reads the newest ``succeeded`` record. Velero backups are Velero's to verify: recorded as
``submitted``, never as ``succeeded``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.backup.export import api_export, has_velero
from bot.backup.pipeline import BackupOutcome, etcd_backup
from bot.backup.setup import ClusterBackups, ProgressReporter
from bot.backup.velero import VeleroBackup, create_velero_backup, velero_backup_name
from bot.config.backup import BackupSettings
from bot.errors import BotError
from bot.store import BackupRecord, Store

if TYPE_CHECKING:
    from bot.clients.kube import KubeAccess


@dataclass(frozen=True)
class ModeChoice:
    """The mode a backup will use and why (the plan shows both)."""

    mode: str  # etcd | api_export | velero
    why: str


def choose_mode(setup: ClusterBackups, kube: KubeAccess | None) -> ModeChoice:
    """Decide the mode for ``setup``'s cluster (``kube``: to look for Velero; discovery only)."""
    cfg = setup.cfg
    if cfg.mode != "auto":
        return ModeChoice(cfg.mode, f"configured (backup.clusters.{setup.cluster}.mode: {cfg.mode})")
    if cfg.etcd is not None:
        return ModeChoice("etcd", f"etcd access is configured ({', '.join(cfg.etcd.endpoints)})")
    if kube is not None and has_velero(kube):
        return ModeChoice("velero", "no etcd access (a managed control plane?) and Velero is installed")
    return ModeChoice(
        "api_export",
        "no etcd access (a managed control plane?) and no Velero: every listable API object is exported "
        "(Secrets included), encrypted",
    )


@dataclass
class BackupRun:
    """What one backup did."""

    choice: ModeChoice
    outcome: BackupOutcome | None = None
    velero: VeleroBackup | None = None


def run_backup(
    settings: BackupSettings,
    cluster: str,
    *,
    kube: KubeAccess | None,
    store: Store | None,
    record_id: str,
    emit: Callable[[str], None],
    abort: threading.Event,
    target: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackupRun:
    """Back ``cluster`` up in its mode, recording the run; raises BotError (recorded as failed) on failure."""
    setup = ClusterBackups(settings, cluster)
    choice = choose_mode(setup, kube)
    report = ProgressReporter(emit)
    started = clock()
    if store is not None and choice.mode != "velero":
        store.record_backup(BackupRecord(record_id, cluster, "running", started, detail={"mode": choice.mode}))
    try:
        if choice.mode == "velero":
            if kube is None:
                raise BotError("Velero mode needs Kubernetes access")
            name = velero_backup_name(cluster, started)
            run = BackupRun(choice, velero=create_velero_backup(kube, setup.cfg.velero, name, record_id))
            if store is not None:
                store.record_backup(
                    BackupRecord(
                        record_id, cluster, "submitted", started, clock(), f"velero:{name}", detail={"mode": "velero"}
                    )
                )
            return run
        if choice.mode == "etcd":
            outcome = etcd_backup(setup, target=target, kube=kube, report=report, abort=abort, clock=clock)
        else:
            if kube is None:
                raise BotError("an API export needs Kubernetes access")
            outcome = api_export(setup, kube, target=target, report=report, abort=abort, clock=clock)
    except BaseException as exc:
        if store is not None:
            reason = str(exc) if isinstance(exc, BotError) else f"internal error ({type(exc).__name__})"
            store.record_backup(
                BackupRecord(
                    record_id, cluster, "failed", started, clock(), detail={"mode": choice.mode, "error": reason}
                )
            )
        raise
    m = outcome.manifest
    if store is not None:
        detail = {
            "mode": choice.mode,
            "backup_id": m.id,
            "target": m.target,
            "revision": m.revision,
            "key_id": m.key_id,
            "ciphertext_sha256": m.ciphertext_sha256,
            "retention_deleted": outcome.deleted,
        }
        store.record_backup(
            BackupRecord(
                record_id,
                cluster,
                "succeeded",
                started,
                clock(),
                m.location,
                m.plaintext_size,
                m.plaintext_sha256,
                detail,
            )
        )
    return BackupRun(choice, outcome=outcome)
