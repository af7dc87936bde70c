"""Settings of etcd-backup (``backup:`` in YAML): targets, keys, and per-cluster etcd access and schedule.

``targets`` name where backups go (S3, Azure Blob, a directory); ``keys`` name what wraps each
backup's data key (AWS KMS, Azure Key Vault, a key file from a mounted Secret); ``clusters`` say,
per cluster, how to reach one etcd member (endpoints + client certificate from files or from a
Kubernetes Secret), which target and key to use, the schedule and the retention. Secrets are only
ever file paths or environment variables; their contents are read when used and never logged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bot.config.schedule import TimeZoneName, check_cron

NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _read_secret_file(path: Path, what: str) -> SecretStr:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {what} from {path}: {exc.strerror}") from None
    if not value:
        raise ValueError(f"{what} file {path} is empty")
    return SecretStr(value)


class _Https(_Strict):
    """Endpoint overrides shared by the cloud targets and keys (private endpoints, or test servers)."""

    endpoint_url: str | None = Field(None, description="endpoint override (a private endpoint or a test server)")
    ca_bundle: Path | None = Field(None, description="CA bundle for that endpoint's TLS certificate")

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


class S3Target(_Https):
    """An S3 bucket (or prefix); multipart uploads, parts streamed from the staged file (bounded memory)."""

    type: Literal["s3"]
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    prefix: str = Field("", description="key prefix, e.g. etcd/ (the cluster name is added below it)")
    region: str = Field(pattern=r"^[a-z0-9-]+$")
    profile: str | None = Field(None, description="AWS shared-config profile; default: boto3's chain (IRSA...)")
    part_size_mb: int = Field(8, ge=5, le=512, description="multipart part size (S3's minimum is 5)")
    upload_concurrency: int = Field(
        4, ge=1, le=16, description="parts in flight (streamed from disk; each adds ~3 MiB of buffers)"
    )
    max_attempts: int = Field(5, ge=1, le=20, description="attempts per request (botocore standard retries)")
    storage_class: str | None = Field(None, pattern=r"^[A-Z_]+$", description="e.g. STANDARD_IA")


class AzureBlobTarget(_Strict):
    """An Azure Blob container; uploads are staged blocks committed at the end (bounded memory)."""

    type: Literal["azure_blob"]
    container: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    prefix: str = ""
    account_url: str | None = Field(None, description="https://<account>.blob.core.windows.net (with a credential)")
    credential: Literal["default", "client_secret", "connection_string"] = "default"
    connection_string: SecretStr | None = None
    connection_string_file: Path | None = Field(None, description="file holding the connection string")
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_file: Path | None = None
    authority: str | None = None
    block_size_mb: int = Field(8, ge=1, le=100)

    @model_validator(mode="after")
    def _credential_complete(self) -> AzureBlobTarget:
        if self.connection_string_file is not None:
            self.connection_string = _read_secret_file(self.connection_string_file, "connection_string")
        if self.credential == "connection_string" and self.connection_string is None:
            raise ValueError("credential connection_string needs connection_string_file (or the env variable)")
        if self.credential != "connection_string" and not self.account_url:
            raise ValueError(f"credential {self.credential} needs account_url")
        if self.credential == "client_secret" and not (self.tenant_id and self.client_id and self.client_secret_file):
            raise ValueError("credential client_secret needs tenant_id, client_id and client_secret_file")
        return self


class DirectoryTarget(_Strict):
    """A directory — a mounted volume of another failure domain (NFS, a CSI bucket mount...)."""

    type: Literal["directory"]
    path: Path


Target = Annotated[S3Target | AzureBlobTarget | DirectoryTarget, Field(discriminator="type")]


class AwsKmsKey(_Https):
    """An AWS KMS key: a fresh data key per backup (GenerateDataKey), unwrapped with Decrypt."""

    type: Literal["aws_kms"]
    key_id: str = Field(min_length=1, description="key ARN, id or alias/name")
    region: str = Field(pattern=r"^[a-z0-9-]+$")
    profile: str | None = None


class AzureKeyVaultKey(_Strict):
    """An Azure Key Vault RSA key: the data key is wrapped with RSA-OAEP-256 (wrapKey/unwrapKey)."""

    type: Literal["azure_key_vault"]
    key_id: str = Field(pattern=r"^https://", description="https://<vault>.vault.azure.net/keys/<name>/<version>")
    credential: Literal["default", "client_secret"] = "default"
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_file: Path | None = None
    authority: str | None = None
    ca_bundle: Path | None = None
    verify_challenge_resource: bool = Field(
        True, description="check the vault's auth challenge names a parent domain of the vault (keep on)"
    )

    @model_validator(mode="after")
    def _credential_complete(self) -> AzureKeyVaultKey:
        if self.credential == "client_secret" and not (self.tenant_id and self.client_id and self.client_secret_file):
            raise ValueError("credential client_secret needs tenant_id, client_id and client_secret_file")
        if not re.match(r"^https://[^/]+/keys/[^/]+(/[^/]+)?/?$", self.key_id):
            raise ValueError("key_id must look like https://<vault>/keys/<name>[/<version>]")
        return self


def read_key_file(path: Path) -> bytes:
    """The 32-byte key in ``path`` (raw, hex or base64); ValueError saying why not — never the key."""
    import base64
    import binascii

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the key file {path}: {exc.strerror}") from None
    if len(raw) == 32:
        return raw
    text = raw.strip()
    if re.fullmatch(rb"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text.decode())
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) == 32:
        return decoded
    raise ValueError(
        f"the key file {path} must hold a 256-bit key: 32 raw bytes, 64 hex digits or base64 of 32 bytes "
        "(e.g. `openssl rand -base64 32`)"
    )


class KeyFileKey(_Strict):
    """A 256-bit key in a file (a mounted Secret): 32 raw bytes, 64 hex digits or base64 of 32 bytes."""

    type: Literal["key_file"]
    path: Path

    @model_validator(mode="after")
    def _readable(self) -> KeyFileKey:
        read_key_file(self.path)  # ValueError with the reason (never the key) when unusable
        return self


Key = Annotated[AwsKmsKey | AzureKeyVaultKey | KeyFileKey, Field(discriminator="type")]


class EtcdSecretRef(_Strict):
    """The etcd client certificate in a Kubernetes Secret (read with the bot's own identity)."""

    namespace: str = Field("kube-system", pattern=NAME)
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    ca_key: str = "ca.crt"
    cert_key: str = "tls.crt"
    key_key: str = "tls.key"


class EtcdAccess(_Strict):
    """How to reach one etcd member: endpoints (tried in order) and a client certificate."""

    endpoints: list[str] = Field(min_length=1, description="https://10.0.0.10:2379 (kops: :4001)")
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    secret: EtcdSecretRef | None = Field(None, description="certificate from a Secret instead of files")
    server_name: str | None = Field(None, description="TLS name to verify instead of the endpoint's host")
    layout: Literal["kubeadm", "kops", "aks-engine", "other"] = Field(
        "kubeadm", description="control-plane layout: decides the restore checklist's paths and commands"
    )
    timeout_seconds: float = Field(3600.0, gt=0, le=6 * 3600, description="limit for one snapshot stream")

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, value: list[str]) -> list[str]:
        for url in value:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+:\d{1,5}/?", url):
                raise ValueError(f"endpoint {url!r} must be http(s)://host:port")
        return value

    @model_validator(mode="after")
    def _one_certificate_source(self) -> EtcdAccess:
        files = (self.ca_file, self.cert_file, self.key_file)
        tls = any(u.startswith("https://") for u in self.endpoints)
        if self.secret is not None and any(files):
            raise ValueError("give the client certificate either as files or as a secret, not both")
        if tls and self.secret is None and not all(files):
            raise ValueError("https endpoints need ca_file, cert_file and key_file (or secret)")
        return self


class ScheduleSettings(_Strict):
    """When the leader backs a cluster up: a five-field cron in a time zone."""

    cron: str = Field(description="minute hour day month day-of-week, e.g. '0 */6 * * *'")
    timezone: TimeZoneName = "UTC"
    target: str | None = Field(None, description="default: the cluster's target")
    misfire_grace_seconds: int = Field(3600, ge=1)

    @model_validator(mode="after")
    def _cron(self) -> ScheduleSettings:
        check_cron(self.cron, self.timezone)
        return self


class RetentionSettings(_Strict):
    """Which backups to keep (applied only after a successful backup); the rest are deleted.

    A backup is kept if it is one of the newest ``keep_last``, or the newest of one of the last
    ``hourly`` hours, ``daily`` days or ``weekly`` ISO weeks that have a backup (in the schedule's
    time zone). All zero keeps everything.
    """

    keep_last: int = Field(1, ge=0, le=1000)
    hourly: int = Field(0, ge=0, le=1000)
    daily: int = Field(7, ge=0, le=1000)
    weekly: int = Field(4, ge=0, le=1000)


class VeleroSettings(_Strict):
    """Where Velero runs (for managed clusters that have it)."""

    namespace: str = Field("velero", pattern=NAME)
    ttl: str = Field("720h0m0s", pattern=r"^(\d+h)?(\d+m)?(\d+s)?$")
    storage_location: str | None = None


class ClusterBackupSettings(_Strict):
    """``backup.clusters.<name>``: how one cluster is backed up."""

    mode: Literal["auto", "etcd", "api_export", "velero"] = Field(
        "auto", description="auto: etcd when configured, else Velero when installed, else an API export"
    )
    target: str = Field(description="name of a backup.targets entry")
    key: str = Field(description="name of a backup.keys entry")
    etcd: EtcdAccess | None = None
    schedule: ScheduleSettings | None = None
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    velero: VeleroSettings = Field(default_factory=VeleroSettings)
    export_exclude: list[str] = Field(
        default_factory=lambda: ["events", "events.events.k8s.io"],
        description="resources (plural or plural.group) left out of API exports",
    )

    @model_validator(mode="after")
    def _mode_needs(self) -> ClusterBackupSettings:
        if self.mode == "etcd" and self.etcd is None:
            raise ValueError("mode etcd needs an etcd section (endpoints and client certificate)")
        return self


class BackupSettings(_Strict):
    """``backup:``: targets, keys, per-cluster settings and the local staging folder."""

    staging_dir: Path = Field(
        Path("/tmp/runbook-bot-backups"),  # noqa: S108 - a default; production mounts a volume here
        description="where encrypted .part files are staged before upload (room for one snapshot)",
    )
    targets: dict[str, Target] = Field(default_factory=dict)
    keys: dict[str, Key] = Field(default_factory=dict)
    clusters: dict[str, ClusterBackupSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> BackupSettings:
        for name in [*self.targets, *self.keys]:
            if not re.match(NAME, name):
                raise ValueError(f"name {name!r} must be lowercase letters, digits and '-'")
        for cluster, cfg in self.clusters.items():
            targets = [cfg.target] + ([cfg.schedule.target] if cfg.schedule and cfg.schedule.target else [])
            for target in targets:
                if target not in self.targets:
                    raise ValueError(f"cluster {cluster}: unknown target {target!r} (have: {sorted(self.targets)})")
            if cfg.key not in self.keys:
                raise ValueError(f"cluster {cluster}: unknown key {cfg.key!r} (have: {sorted(self.keys)})")
        return self

    def unknown_clusters(self, known: set[str]) -> list[str]:
        """Cluster names under ``backup.clusters`` that are not configured clusters."""
        return sorted(c for c in self.clusters if c not in known)
