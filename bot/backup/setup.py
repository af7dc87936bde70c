"""One cluster's backup setup — its settings, target and key providers — and a throttled progress reporter."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.backup.envelope import WrappedKey
from bot.backup.keys import (
    AWS_KMS,
    AZURE_KEY_VAULT,
    KEY_FILE,
    AwsKmsProvider,
    KeyFileProvider,
    KeyProvider,
    WrongKeyError,
)
from bot.backup.storage import BackupTarget, LocalDirectoryTarget
from bot.config.backup import (
    AwsKmsKey,
    AzureBlobTarget,
    AzureKeyVaultKey,
    BackupSettings,
    ClusterBackupSettings,
    DirectoryTarget,
    KeyFileKey,
    S3Target,
)
from bot.errors import PermanentError, UserError

PROVIDER_OF = {"aws_kms": AWS_KMS, "azure_key_vault": AZURE_KEY_VAULT, "key_file": KEY_FILE}


def human_bytes(n: float) -> str:
    """``1.5 GiB``, ``64.0 MiB``, ``512 B``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class ClusterBackups:
    """The backup configuration of one cluster, with its target(s) and key providers built on demand."""

    def __init__(self, settings: BackupSettings, cluster: str) -> None:
        cfg = settings.clusters.get(cluster)
        if cfg is None:
            configured = ", ".join(sorted(settings.clusters)) or "none"
            raise UserError(
                f"cluster {cluster} has no backup configuration (backup.clusters.{cluster})",
                hint=f"clusters with backups: {configured}; see config/example.yaml",
            )
        self.settings = settings
        self.cluster = cluster
        self.cfg: ClusterBackupSettings = cfg
        self._targets: dict[str, BackupTarget] = {}
        self._keys: dict[str, KeyProvider] = {}

    def target_name(self, requested: str | None = None) -> str:
        """``requested`` (checked) or the cluster's default target."""
        name = requested or self.cfg.target
        if name not in self.settings.targets:
            raise UserError(
                f"unknown backup target `{name}`", hint="targets: " + ", ".join(sorted(self.settings.targets))
            )
        return name

    def target(self, requested: str | None = None) -> BackupTarget:
        """The target object for ``requested`` (default: the cluster's)."""
        name = self.target_name(requested)
        if name not in self._targets:
            self._targets[name] = open_target(name, self.settings.targets[name])
        return self._targets[name]

    def describe_target(self, requested: str | None = None) -> str:
        """``s3 bucket etcd-backups (prefix etcd/)`` — for plans, without connecting."""
        name = self.target_name(requested)
        cfg = self.settings.targets[name]
        if cfg.type == "s3":
            return f"{name}: S3 bucket {cfg.bucket}" + (f" (prefix {cfg.prefix})" if cfg.prefix else "")
        if cfg.type == "azure_blob":
            return f"{name}: Azure Blob container {cfg.container}" + (f" (prefix {cfg.prefix})" if cfg.prefix else "")
        return f"{name}: directory {cfg.path}"

    def key(self, name: str | None = None) -> KeyProvider:
        """The key provider ``name`` (default: the cluster's key)."""
        name = name or self.cfg.key
        if name not in self._keys:
            self._keys[name] = key_provider(self.settings.keys[name])
        return self._keys[name]

    def describe_key(self) -> str:
        """``kms-main: AWS KMS alias/etcd-backup`` — for plans, without connecting."""
        cfg = self.settings.keys[self.cfg.key]
        if cfg.type == "aws_kms":
            return f"{self.cfg.key}: AWS KMS {cfg.key_id}"
        if cfg.type == "azure_key_vault":
            return f"{self.cfg.key}: Azure Key Vault {cfg.key_id}"
        return f"{self.cfg.key}: key file {cfg.path}"

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        """The data key of a backup: the cluster's key first, then every other configured key of the
        backup's provider (a rotated-out key can stay configured). WrongKeyError names what was tried."""
        names = [self.cfg.key] + [n for n in self.settings.keys if n != self.cfg.key]
        errors = []
        for name in names:
            if name != self.cfg.key and PROVIDER_OF[self.settings.keys[name].type] != wrapped.provider:
                continue
            try:
                return self.key(name).unwrap(wrapped)
            except (WrongKeyError, PermanentError) as exc:  # try the next key; say why each failed
                errors.append(f"{name}: {exc}")
        raise WrongKeyError("; ".join(errors))


@dataclass
class ProgressReporter:
    """Turns byte counts into run-message lines, at most one per ``interval`` seconds (plus milestones)."""

    emit: Callable[[str], None]
    interval: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _last: float = field(default=-1e9)

    def say(self, line: str) -> None:
        """Always shown (a milestone)."""
        self._last = self.clock()
        self.emit(line)

    def _due(self) -> bool:
        now = self.clock()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True

    def streamed(self, done: int, expected: int) -> None:
        """``streaming snapshot: 12.0 MiB of ~64.0 MiB``."""
        if self._due():
            of = f" of ~{human_bytes(expected)}" if expected else ""
            self.emit(f"streaming and encrypting: {human_bytes(done)}{of}")

    def counted(self, done: int, what: str) -> None:
        """``1200 objects exported``."""
        if self._due():
            self.emit(f"{done} {what}")

    def uploaded(self, done: int, part: int, parts: int) -> None:
        """``uploading: part 3/8, 24.0 MiB``."""
        if part == parts or self._due():
            self.emit(f"uploading: part {part}/{parts}, {human_bytes(done)}")


def key_provider(cfg: AwsKmsKey | AzureKeyVaultKey | KeyFileKey) -> KeyProvider:
    """The provider for a ``backup.keys`` entry."""
    if isinstance(cfg, KeyFileKey):
        return KeyFileProvider(cfg)
    if isinstance(cfg, AwsKmsKey):
        return AwsKmsProvider(cfg)
    from bot.backup.keys_azure import AzureKeyVaultProvider

    return AzureKeyVaultProvider(cfg)


def open_target(name: str, cfg: S3Target | AzureBlobTarget | DirectoryTarget) -> BackupTarget:
    """The target for a ``backup.targets`` entry."""
    if isinstance(cfg, DirectoryTarget):
        return LocalDirectoryTarget(name, cfg)
    if isinstance(cfg, S3Target):
        from bot.backup.storage_s3 import S3BackupTarget

        return S3BackupTarget(name, cfg)
    from bot.backup.storage_azure import AzureBlobBackupTarget

    return AzureBlobBackupTarget(name, cfg)
