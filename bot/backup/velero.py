"""Velero mode: on a cluster without etcd access where Velero is installed, ask Velero for a backup.

The bot creates a ``velero.io/v1`` ``Backup`` (all namespaces, the configured TTL and storage
location) as the requester — so the cluster's RBAC decides — and reports its name; Velero's
controller does the work and stores it in its own BackupStorageLocation. The bot does not record
it as a verified etcd backup: Velero's own status (``velero backup describe``) is the source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.config.backup import VeleroSettings
from bot.errors import PermanentError

if TYPE_CHECKING:
    from bot.clients.kube import KubeAccess


@dataclass(frozen=True)
class VeleroBackup:
    """The Backup object created."""

    name: str
    namespace: str
    phase: str


def velero_backup_name(cluster: str, at: datetime) -> str:
    """``runbook-bot-<cluster>-<yyyymmddhhmmss>`` (a valid object name)."""
    return f"runbook-bot-{cluster}-{at:%Y%m%d%H%M%S}"[:63]


def create_velero_backup(kube: KubeAccess, cfg: VeleroSettings, name: str, run_id: str) -> VeleroBackup:
    """Create the Backup object (as ``kube``'s identity)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    spec: dict[str, Any] = {"includedNamespaces": ["*"], "ttl": cfg.ttl}
    if cfg.storage_location:
        spec["storageLocation"] = cfg.storage_location
    body = {
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": {
            "name": name,
            "namespace": cfg.namespace,
            "labels": {"app.kubernetes.io/managed-by": "k8s-runbook-bot"},
            "annotations": {"runbook-bot/run-id": run_id},
        },
        "spec": spec,
    }
    api = client.CustomObjectsApi(kube.api_client)
    try:
        created = api.create_namespaced_custom_object(
            "velero.io", "v1", cfg.namespace, "backups", body, _request_timeout=kube.timeout
        )
    except ApiException as exc:
        raise PermanentError(
            f"cannot create Velero Backup {cfg.namespace}/{name}: HTTP {exc.status} {exc.reason}"
        ) from None
    phase = str((created.get("status") or {}).get("phase") or "New")
    return VeleroBackup(name, cfg.namespace, phase)
