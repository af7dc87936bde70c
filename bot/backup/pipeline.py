"""The etcd backup pipeline: snapshot stream → encrypted, checked ``.part`` → multipart upload →
storage check → manifest (now listed) → retention.

Memory stays bounded whatever the database size: the snapshot is streamed 32 KiB at a time into
the encrypting ``.part`` file, and the upload reads one part at a time. A snapshot that fails the
trailer check is deleted before any upload; an upload that fails is aborted and no manifest is
written, so nothing is listed. Retention runs only after the new backup is listed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.backup.envelope import WrappedKey
from bot.backup.manifest import BackupManifest, Kind, backup_id, data_object, manifest_object
from bot.backup.retention import to_delete
from bot.backup.setup import ClusterBackups, ProgressReporter
from bot.backup.staging import StagedBackup, feed, stage
from bot.backup.storage import free_space_ok
from bot.errors import PermanentError

if TYPE_CHECKING:
    from bot.backup.etcd_client import MemberStatus, SnapshotChunk
    from bot.clients.kube import KubeAccess


@dataclass
class BackupOutcome:
    """A finished backup: its manifest, timings and what retention deleted."""

    manifest: BackupManifest
    seconds: float
    stream_seconds: float
    upload_seconds: float
    deleted: list[str] = field(default_factory=list)
    retention_error: str | None = None

    @property
    def throughput(self) -> float:
        """Plaintext bytes per second over the whole backup."""
        return self.manifest.plaintext_size / self.seconds if self.seconds > 0 else 0.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def key_context(cluster: str, kind: Kind, at: datetime) -> dict[str, str]:
    """The encryption context bound to a data key (KMS checks it on Decrypt; the key file uses it as AAD)."""
    return {"k8s-runbook-bot/cluster": cluster, "k8s-runbook-bot/kind": kind, "k8s-runbook-bot/created": at.isoformat()}


def new_checked_data_key(setup: ClusterBackups, context: dict[str, str]) -> tuple[bytes, WrappedKey]:
    """A fresh data key and its wrapped form — unwrapped once more to prove the backup will be restorable."""
    provider = setup.key()
    data_key, wrapped = provider.new_data_key(context)
    if provider.unwrap(wrapped) != data_key:
        raise PermanentError(f"key {provider.key_id} does not unwrap what it wrapped; nothing was backed up")
    return data_key, wrapped


def etcd_backup(
    setup: ClusterBackups,
    *,
    target: str | None,
    kube: KubeAccess | None,
    report: ProgressReporter,
    abort: threading.Event,
    clock: Callable[[], datetime] = _utcnow,
) -> BackupOutcome:
    """Back up the cluster's etcd to ``target`` (default: the cluster's) and apply retention."""
    from bot.backup.etcd_client import EtcdMember, tls_material  # gRPC is loaded by the first backup, not at start

    access = setup.cfg.etcd
    if access is None:
        raise PermanentError(f"cluster {setup.cluster} has no etcd access configured (backup.clusters.*.etcd)")
    began = time.monotonic()
    member = EtcdMember(access, tls_material(access, kube))
    try:
        status = member.connect()
        report.say(f"connected to etcd member {status.member_id} at {status.endpoint} (etcd {status.version})")
        if not free_space_ok(setup.settings.staging_dir, status.db_size):
            raise PermanentError(
                f"the staging folder {setup.settings.staging_dir} has no room for a {status.db_size}-byte snapshot"
            )
        created = clock()
        data_key, wrapped = new_checked_data_key(setup, key_context(setup.cluster, "etcd-snapshot", created))
        first: list[SnapshotChunk] = []

        def blobs() -> Iterator[bytes]:
            for chunk in member.snapshot(abort):
                if not first:
                    first.append(chunk)
                yield chunk.blob

        staged_path = setup.settings.staging_dir / f"{setup.cluster}-{created:%Y%m%dT%H%M%S}.db.enc"
        staged = stage(
            staged_path,
            data_key,
            wrapped,
            "etcd-snapshot",
            lambda sink: feed(sink, blobs(), abort, lambda n: report.streamed(n, status.db_size)),
            snapshot_trailer=True,
        )
        del data_key
    finally:
        member.close()
    streamed = time.monotonic() - began
    revision = first[0].revision if first and first[0].revision else status.revision
    report.say(f"snapshot at revision {revision} checked (size and SHA-256 trailer) and encrypted")
    return _publish(setup, staged, target, created, revision, status, report, abort, began, streamed)


def _publish(
    setup: ClusterBackups,
    staged: StagedBackup,
    target_name: str | None,
    created: datetime,
    revision: int | None,
    status: MemberStatus | None,
    report: ProgressReporter,
    abort: threading.Event,
    began: float,
    streamed: float,
    *,
    resources: int | None = None,
    skipped: list[str] | None = None,
) -> BackupOutcome:
    """Upload a staged backup, write its manifest, apply retention; the staged file is always removed."""
    kind: Kind = "etcd-snapshot" if staged.content == "etcd-snapshot" else "api-export"
    ident = backup_id(setup.cluster, created, revision)
    obj = data_object(setup.cluster, ident, kind)
    try:
        target = setup.target(target_name)
        manifest = BackupManifest(
            id=ident,
            cluster=setup.cluster,
            kind=kind,
            created_at=created,
            target=target.name,
            location=target.location(obj),
            object_name=obj,
            revision=revision,
            member_id=status.member_id if status else None,
            member_endpoint=status.endpoint if status else None,
            etcd_version=status.version if status else None,
            etcd_cluster_id=status.cluster_id if status else None,
            plaintext_size=staged.plaintext_size,
            plaintext_sha256=staged.plaintext_sha256,
            ciphertext_size=staged.ciphertext_size,
            ciphertext_sha256=staged.ciphertext_sha256,
            key_provider=staged.key.provider,
            key_id=staged.key.key_id,
            storage_check="pending",
            resources=resources,
            skipped=skipped or [],
        )
        up_began = time.monotonic()
        manifest.storage_check = target.upload(
            staged.path, obj, manifest.metadata(), report.uploaded, abort, crc32=staged.ciphertext_crc32
        )
        target.put_manifest(manifest_object(setup.cluster, ident), manifest.model_dump_json(indent=2).encode())
        uploaded = time.monotonic() - up_began
    finally:
        staged.path.unlink(missing_ok=True)
    outcome = BackupOutcome(manifest, time.monotonic() - began, streamed, uploaded)
    report.say(f"stored and verified: {manifest.location}")
    try:
        outcome.deleted = apply_retention(setup, target_name)
    except PermanentError as exc:  # the backup itself is fine; say retention failed
        outcome.retention_error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the backup stands whatever retention met; the error is reported
        outcome.retention_error = f"{type(exc).__name__}"
    return outcome


def list_backups(setup: ClusterBackups, target_name: str | None = None) -> list[BackupManifest]:
    """Every listed (complete, verified) backup of the cluster on the target, newest first."""
    target = setup.target(target_name)
    found = []
    for _name, body in target.manifests(setup.cluster):
        try:
            manifest = BackupManifest.model_validate_json(body)
        except ValueError:
            continue  # not ours, or written by an incompatible version: never listed as valid
        if manifest.cluster == setup.cluster:
            found.append(manifest)
    return sorted(found, key=lambda m: (m.created_at, m.id), reverse=True)


def find_backup(setup: ClusterBackups, ident: str, target_name: str | None = None) -> BackupManifest:
    """The listed backup ``ident``; PermanentError naming the closest ids when there is none."""
    backups = list_backups(setup, target_name)
    for manifest in backups:
        if manifest.id == ident:
            return manifest
    newest = ", ".join(m.id for m in backups[:3]) or "none"
    raise PermanentError(f"no listed backup `{ident}` on target {setup.target_name(target_name)} (newest: {newest})")


def apply_retention(setup: ClusterBackups, target_name: str | None = None) -> list[str]:
    """Delete the backups the cluster's retention does not keep (manifest first: unlisted at once)."""
    target = setup.target(target_name)
    backups = list_backups(setup, target_name)
    zone = setup.cfg.schedule.timezone if setup.cfg.schedule else "UTC"
    doomed = set(to_delete(backups, setup.cfg.retention, zone))
    deleted = []
    for manifest in backups:
        if manifest.id in doomed:
            target.delete(manifest_object(setup.cluster, manifest.id))
            target.delete(manifest.object_name)
            deleted.append(manifest.id)
    return deleted


def stage_path(setup: ClusterBackups, created: datetime, suffix: str) -> Path:
    """Where a backup is staged before upload."""
    return setup.settings.staging_dir / f"{setup.cluster}-{created:%Y%m%dT%H%M%S}{suffix}"
