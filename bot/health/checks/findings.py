"""What the health checks report: findings, the runbooks that would fix them, how grave they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: Severities from least to most grave (digests sort by it; a rise is told at once).
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class SuggestedRun:
    """A runbook that would address a finding: the exact command and its button label."""

    runbook: str
    command: str
    label: str
    style: str | None = None


@dataclass(frozen=True)
class Finding:
    """One problem on one subject, found in one sweep."""

    check: str
    subject: str
    summary: str
    severity: str
    since: datetime | None = None
    details: tuple[str, ...] = ()
    actions: tuple[SuggestedRun, ...] = ()


@dataclass(frozen=True)
class BackupStatus:
    """The newest successful etcd backup of a cluster, and how old it may be."""

    last_success: datetime | None
    source: str
    max_age: timedelta


@dataclass
class Evaluation:
    """The findings of one sweep of one cluster, and which checks were evaluated."""

    findings: list[Finding] = field(default_factory=list)
    evaluated: set[str] = field(default_factory=set)
    skipped: dict[str, str] = field(default_factory=dict)  # check → why
