"""Settings of the health checks, alert routing, digests and leader election (``health:`` in YAML).

Durations are written ``90s``, ``15m``, ``1h30m``, ``2d`` (or plain seconds). Every check has a
``duration`` (how long its condition must hold before the alert fires) and a ``severity``; their
defaults live with each check's definition (``bot.health.checks``), and ``checks`` here holds
only what the operator overrides. Overriding one field of a check keeps its other defaults.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from bot.config.schedule import TimeZoneName, check_cron
from bot.durations import coerce_duration, format_duration
from bot.selectors import cluster_matches, unknown_cluster_names

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
Duration = Annotated[timedelta, BeforeValidator(coerce_duration), PlainSerializer(format_duration, return_type=str)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckOverride(BaseModel):
    """What the operator changes of one health check; every field left out keeps the check's default.

    ``enabled``, ``duration`` and ``severity`` are common to every check and validated here. A
    check's own fields (``warn_before``, ``max_age``…) and the check names themselves are known
    only to the registry of checks (``bot.health.checks``, a higher layer): it validates them at
    startup and ``check-config``, located in the file like every other setting.
    """

    model_config = ConfigDict(extra="allow")

    enabled: bool | None = None
    duration: Duration | None = Field(None, description="the condition must hold this long to fire")
    severity: Severity | None = None

    def fields(self) -> dict[str, Any]:
        """The fields given, common and check-specific, as validated so far."""
        given = {name: getattr(self, name) for name in self.model_fields_set if name in type(self).model_fields}
        return {**given, **(self.model_extra or {})}


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
    timezone: TimeZoneName = "UTC"
    clusters: list[str] = Field(default_factory=lambda: ["*"])
    misfire_grace_seconds: int = Field(3600, ge=1, description="a late leader still posts a digest this late")

    @model_validator(mode="after")
    def _valid_cron(self) -> DigestSettings:
        check_cron(self.cron, self.timezone)
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
    checks: dict[str, CheckOverride] = Field(
        default_factory=dict, description="check name → overrides of its defaults (see bot.health.checks)"
    )
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
