"""Backup ids, object names and the manifest — the record that makes a stored backup *listed*.

Each backup is two objects under ``<target prefix><cluster>/``: the encrypted data
(``<id>.db.enc`` for an etcd snapshot, ``<id>.tar.enc`` for an API export) and
``<id>.manifest.json``, written **last**, only after the data was uploaded and the target confirmed
it holds exactly those bytes. Listing reads manifests only, so an interrupted or failed upload —
data without a manifest — is never listed as a backup.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot import __version__

Kind = Literal["etcd-snapshot", "api-export"]
ID_PATTERN = re.compile(r"^(?P<cluster>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-(?P<at>\d{8}T\d{6}Z)-(?P<what>r\d+|api)$")
MANIFEST_SUFFIX = ".manifest.json"


def backup_id(cluster: str, at: datetime, revision: int | None) -> str:
    """``prod-20260301T020000Z-r123456`` (etcd) or ``prod-20260301T020000Z-api`` (API export)."""
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{cluster}-{stamp}-" + (f"r{revision}" if revision is not None else "api")


def parse_backup_id(text: str) -> tuple[str, datetime]:
    """(cluster, time) of a backup id; ValueError when ``text`` is not one."""
    m = ID_PATTERN.match(text)
    if m is None:
        raise ValueError(f"`{text}` is not a backup id (like prod-20260301T020000Z-r123456)")
    return m.group("cluster"), datetime.strptime(m.group("at"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def data_object(cluster: str, ident: str, kind: Kind) -> str:
    """The encrypted data's name (relative to the target prefix)."""
    return f"{cluster}/{ident}." + ("db.enc" if kind == "etcd-snapshot" else "tar.enc")


def manifest_object(cluster: str, ident: str) -> str:
    """The manifest's name (relative to the target prefix)."""
    return f"{cluster}/{ident}{MANIFEST_SUFFIX}"


class BackupManifest(BaseModel):
    """Everything known about a complete, verified backup. Contains no secret (the data key is wrapped)."""

    model_config = ConfigDict(extra="ignore")

    format: int = 1
    id: str
    cluster: str
    kind: Kind
    created_at: datetime
    target: str
    location: str
    object_name: str
    revision: int | None = None
    member_id: str | None = None
    member_endpoint: str | None = None
    etcd_version: str | None = None
    etcd_cluster_id: str | None = None
    plaintext_size: int
    plaintext_sha256: str
    ciphertext_size: int
    ciphertext_sha256: str
    key_provider: str
    key_id: str
    storage_check: str = Field(description="how the target confirmed the upload")
    resources: int | None = Field(None, description="API export: objects exported")
    skipped: list[str] = Field(default_factory=list, description="API export: resources not exported, and why")
    bot_version: str = __version__

    def metadata(self) -> dict[str, str]:
        """Object metadata for the data object (S3 x-amz-meta-*, Blob metadata): ASCII, no secrets."""
        values = {
            "cluster": self.cluster,
            "backup_id": self.id,
            "kind": self.kind,
            "revision": "" if self.revision is None else str(self.revision),
            "member": self.member_id or "",
            "plaintext_size": str(self.plaintext_size),
            "plaintext_sha256": self.plaintext_sha256,
            "ciphertext_sha256": self.ciphertext_sha256,
            "key_provider": self.key_provider,
            "key_id": self.key_id,
            "bot_version": self.bot_version,
        }
        return {k: v for k, v in values.items() if v}
