"""Settings of the health checks, alert routing, digests and leader election (``health:`` in YAML).

Durations are written ``90s``, ``15m``, ``1h30m``, ``2d`` (or plain seconds). Every check has a
``duration`` (how long its condition must hold before the alert fires) and a ``severity``; the
defaults follow the kubernetes-mixin alerts (KubeNodeNotReady 15m, KubePodCrashLooping 15m,
KubeContainerWaiting 1h, KubeHpaMaxedOut 15m…). Overriding one field of a check keeps that
check's other defaults.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from bot.durations import coerce_duration, format_duration
from bot.selectors import cluster_matches, unknown_cluster_names

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
Duration = Annotated[timedelta, BeforeValidator(coerce_duration), PlainSerializer(format_duration, return_type=str)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckSettings(_Strict):
    """One check: on or off, how long its condition must hold, and the severity of its alert."""

    enabled: bool = True
    duration: Duration = Field(timedelta(minutes=15), description="the condition must hold this long to fire")
    severity: Severity = "warning"


class CertificateCheckSettings(CheckSettings):
    """Certificate expiry: warn ``warn_before`` the end, critical ``critical_before`` it."""

    warn_before: Duration = timedelta(days=7)
    critical_before: Duration = timedelta(days=1)


class BackupCheckSettings(CheckSettings):
    """The newest successful etcd backup may be at most ``max_age`` old (the schedule plus slack)."""

    max_age: Duration = timedelta(hours=26)


#: Per-check defaults (kubernetes-mixin where it has the alert).
CHECK_DEFAULTS: dict[str, dict[str, Any]] = {
    "node_not_ready": {"duration": "15m", "severity": "warning"},
    "node_pressure": {"duration": "10m", "severity": "info"},
    "node_cordoned": {"duration": "24h", "severity": "info"},
    "pod_crash_looping": {"duration": "15m", "severity": "warning"},
    "container_waiting": {"duration": "1h", "severity": "warning"},
    "pod_pending": {"duration": "15m", "severity": "warning"},
    "replicas_mismatch": {"duration": "15m", "severity": "warning"},
    "daemonset_not_scheduled": {"duration": "10m", "severity": "warning"},
    "hpa_maxed_out": {"duration": "15m", "severity": "warning"},
    "pdb_blocking": {"duration": "1h", "severity": "warning"},
    "pod_multiple_pdbs": {"duration": "0s", "severity": "warning"},
    "job_failed": {"duration": "15m", "severity": "warning"},
    "control_plane_quorum": {"duration": "3m", "severity": "critical"},
    "control_plane_even_members": {"duration": "1h", "severity": "warning"},
    "certificate_expiry": {"duration": "0s", "severity": "warning"},
    "etcd_backup_age": {"duration": "0s", "severity": "warning"},
    "cluster_unreachable": {"duration": "5m", "severity": "critical"},
}


def _check(name: str) -> Any:
    return Field(default_factory=lambda: CheckSettings.model_validate(CHECK_DEFAULTS[name]))


class ChecksSettings(_Strict):
    """Every check by name. A partial override (``node_not_ready: {duration: 5m}``) keeps the other defaults."""

    node_not_ready: CheckSettings = _check("node_not_ready")
    node_pressure: CheckSettings = _check("node_pressure")
    node_cordoned: CheckSettings = _check("node_cordoned")
    pod_crash_looping: CheckSettings = _check("pod_crash_looping")
    container_waiting: CheckSettings = _check("container_waiting")
    pod_pending: CheckSettings = _check("pod_pending")
    replicas_mismatch: CheckSettings = _check("replicas_mismatch")
    daemonset_not_scheduled: CheckSettings = _check("daemonset_not_scheduled")
    hpa_maxed_out: CheckSettings = _check("hpa_maxed_out")
    pdb_blocking: CheckSettings = _check("pdb_blocking")
    pod_multiple_pdbs: CheckSettings = _check("pod_multiple_pdbs")
    job_failed: CheckSettings = _check("job_failed")
    control_plane_quorum: CheckSettings = _check("control_plane_quorum")
    control_plane_even_members: CheckSettings = _check("control_plane_even_members")
    certificate_expiry: CertificateCheckSettings = Field(
        default_factory=lambda: CertificateCheckSettings.model_validate(CHECK_DEFAULTS["certificate_expiry"])
    )
    etcd_backup_age: BackupCheckSettings = Field(
        default_factory=lambda: BackupCheckSettings.model_validate(CHECK_DEFAULTS["etcd_backup_age"])
    )
    cluster_unreachable: CheckSettings = _check("cluster_unreachable")

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, value in data.items():
            if name in CHECK_DEFAULTS and isinstance(value, dict):
                merged[name] = {**CHECK_DEFAULTS[name], **value}
        return merged

    def get(self, name: str) -> CheckSettings:
        """The settings of check ``name`` (KeyError when there is no such check)."""
        if name not in CHECK_DEFAULTS:
            raise KeyError(name)
        value: CheckSettings = getattr(self, name)
        return value


class AlertRoute(_Strict):
    """Where alerts go. Routes are matched in order; the first match wins.

    ``clusters`` holds cluster names or ``env:<environment>``; ``*`` matches every cluster.
    Without a matching route an alert goes to its cluster's first ``channels`` entry (if any).
    """

    clusters: list[str] = Field(default_factory=lambda: ["*"])
    severities: list[Severity] = Field(default_factory=lambda: list(SEVERITIES))
    channel: str = Field(min_length=1, description="Slack channel ID")

    def matches(self, cluster: str, environment: str, severity: str) -> bool:
        """Does this route take an alert of ``severity`` on ``cluster`` (in ``environment``)?"""
        in_cluster = cluster_matches(self.clusters, cluster, environment)
        return in_cluster and severity in self.severities


class DigestSettings(_Strict):
    """A digest posted on a cron (five fields, as crontab) in a time zone, to one channel."""

    name: str | None = Field(None, description="unique name (default: the channel)")
    channel: str = Field(min_length=1)
    cron: str = Field("0 9 * * mon-fri", description="minute hour day month day-of-week")
    timezone: str = "UTC"
    clusters: list[str] = Field(default_factory=lambda: ["*"])
    misfire_grace_seconds: int = Field(3600, ge=1, description="a late leader still posts a digest this late")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Madrid)") from None
        return value

    @model_validator(mode="after")
    def _valid_cron(self) -> DigestSettings:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))
        except ValueError as exc:
            raise ValueError(f"cron {self.cron!r} is invalid: {exc}") from None
        if self.name is None:
            self.name = self.channel
        return self

    @property
    def key(self) -> str:
        """The name digests are recorded under (one post per name and cron time)."""
        return self.name or self.channel


class BackupSourceSettings(_Strict):
    """Where the last successful etcd backup of one cluster is read from.

    ``store``: backup records in the bot's store (written by the etcd-backup runbook once it
    exists). ``directory``: the newest file matching ``pattern`` in ``directory`` (e.g. where an
    existing backup CronJob writes its snapshots).
    """

    source: Literal["store", "directory"] = "store"
    directory: Path | None = None
    pattern: str = "*"
    max_age: Duration | None = Field(None, description="overrides checks.etcd_backup_age.max_age")

    @model_validator(mode="after")
    def _directory_given(self) -> BackupSourceSettings:
        if self.source == "directory" and self.directory is None:
            raise ValueError("source: directory needs a directory")
        return self


class LeaderElectionSettings(_Strict):
    """One replica runs the checks: the holder of a coordination.k8s.io/v1 Lease.

    A new leader takes over at most ``lease_duration_seconds + retry_period_seconds`` after the
    old one died (at once when it shut down cleanly: it releases the lease).
    """

    enabled: bool = True
    cluster: str | None = Field(None, description="cluster holding the Lease (default: default_cluster)")
    namespace: str | None = Field(None, description="default: the pod's namespace in-cluster, else default")
    lease_name: str = Field("k8s-runbook-bot", pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    identity: str | None = Field(None, description="default: $POD_NAME or hostname, plus the process id")
    lease_duration_seconds: float = Field(15.0, gt=0, le=600)
    renew_deadline_seconds: float = Field(10.0, gt=0, le=600)
    retry_period_seconds: float = Field(2.0, gt=0, le=60)

    @model_validator(mode="after")
    def _ordered(self) -> LeaderElectionSettings:
        if not self.retry_period_seconds < self.renew_deadline_seconds < self.lease_duration_seconds:
            raise ValueError("need retry_period_seconds < renew_deadline_seconds < lease_duration_seconds")
        return self


class HealthSettings(_Strict):
    """Scheduled health checks, alerts, digests, and which replica runs them."""

    enabled: bool = Field(True, description="run the scheduled checks when serving Slack")
    interval_seconds: int = Field(60, ge=1, le=3600, description="time between sweeps")
    renotify_minutes: int = Field(240, ge=0, description="repeat a firing, un-acked alert this often (0: never)")
    max_parallel_clusters: int = Field(4, ge=1, le=64)
    checks: ChecksSettings = Field(default_factory=ChecksSettings)
    routes: list[AlertRoute] = Field(default_factory=list)
    digests: list[DigestSettings] = Field(default_factory=list)
    backups: dict[str, BackupSourceSettings] = Field(
        default_factory=dict, description="cluster → where its etcd backups are recorded"
    )
    leader_election: LeaderElectionSettings = Field(default_factory=LeaderElectionSettings)

    @model_validator(mode="after")
    def _unique_digests(self) -> HealthSettings:
        names = [d.key for d in self.digests]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"digest names must be unique (give each a name): {', '.join(dupes)}")
        return self

    def unknown_clusters(self, known: set[str]) -> list[str]:
        """Cluster names used by routes, digests, backups and the lease that are not configured."""
        named = [c for r in self.routes for c in r.clusters] + [c for d in self.digests for c in d.clusters]
        named += list(self.backups)
        if self.leader_election.cluster:
            named.append(self.leader_election.cluster)
        return unknown_cluster_names(named, known)
