"""The plain records the store reads and writes: runs, approval decisions and audit events.

Every time is a timezone-aware UTC ``datetime``; JSON fields hold plain dicts and lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class RunRecord:
    """One request to run a runbook, from the plan the requester confirmed to its outcome.

    ``state`` is a ``RunState`` value; the store moves it only along ``TRANSITIONS`` (see
    ``Store.transition``). ``request_key`` dedupes Slack retries and is unique when set.
    ``owner_id`` names the process executing the run (queued, running, aborting), which keeps
    ``heartbeat_at`` fresh; a run whose heartbeat went stale is taken over or marked interrupted.
    """

    id: str
    runbook: str
    risk: str
    cluster: str
    namespace: str
    command: str
    requester_chat_id: str
    requester_name: str
    kube_user: str | None
    kube_groups: list[str]
    state: str
    plan: dict[str, Any]
    plan_hash: str
    request_key: str | None = None
    channel: str | None = None
    message_ts: str | None = None
    audit_ts: str | None = None
    approvals_required: int = 0
    policy: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None
    break_glass_reason: str | None = None
    outcome: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    owner_id: str | None = None


@dataclass
class ApprovalRecord:
    """One approver's decision (``approve`` or ``deny``) on a run, bound to the plan hash they saw."""

    run_id: str
    approver_chat_id: str
    approver_name: str
    kube_user: str | None
    decision: str
    plan_hash: str
    reason: str | None = None
    at: datetime | None = None


@dataclass
class AuditEvent:
    """One stored audit event: who (``actor``) did what (``kind``, ``summary``, ``detail``) and when."""

    id: int
    run_id: str | None
    at: datetime
    actor: str
    kind: str
    summary: str
    detail: dict[str, Any]


@dataclass
class AlertRecord:
    """One alert of a health check on one subject: pending → firing → resolved.

    ``key`` is ``cluster/check/subject``; ``active_key`` equals it while the alert is open
    (pending or firing) and is None once resolved. ``since`` is when the condition began (as
    far as anyone can tell); the alert fires once it has held for the check's duration.
    """

    id: str
    key: str
    cluster: str
    check_name: str
    subject: str
    severity: str
    state: str
    summary: str
    details: dict[str, Any]
    since: datetime
    first_seen: datetime
    last_seen: datetime
    active_key: str | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    channel: str | None = None
    message_ts: str | None = None
    post_claimed_at: datetime | None = None
    post_claimed_by: str | None = None
    last_notified_at: datetime | None = None
    notify_count: int = 0
    acked_by: str | None = None
    acked_at: datetime | None = None
    silenced_until: datetime | None = None
    silenced_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def silenced(self, now: datetime) -> bool:
        """True while a silence is in effect."""
        return self.silenced_until is not None and now < self.silenced_until


@dataclass
class BackupRecord:
    """One backup run of a cluster's etcd (``status``: running, succeeded or failed)."""

    id: str
    cluster: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    location: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class DigestRecord:
    """A digest claimed (and, once ``posted_at`` is set, posted) for one cron time."""

    name: str
    scheduled_for: datetime
    claimed_by: str
    claimed_at: datetime
    channel: str | None = None
    message_ts: str | None = None
    posted_at: datetime | None = None


@dataclass
class GroupClaim:
    """A run's hold on a node group (``key``): one replacement at a time per group."""

    key: str
    run_id: str
    node: str
    group_name: str
    claimed_at: datetime | None = None
