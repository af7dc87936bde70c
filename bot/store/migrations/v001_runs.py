"""Migration 1 (release 0.1.0): runs, approvals (unique per run and approver) and audit events.

Frozen: these definitions are what version 1 created and never change; later changes are later
migrations. They are copies, on purpose, of the tables as they stood then.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.store.schema import UTCDateTime

_metadata = MetaData()


def _json() -> JSON:
    return JSON(none_as_null=True)


runs = Table(
    "runs",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("runbook", Text, nullable=False),
    Column("risk", String(32), nullable=False),
    Column("cluster", Text, nullable=False),
    Column("namespace", Text, nullable=False),
    Column("command", Text, nullable=False),
    Column("requester_chat_id", Text, nullable=False),
    Column("requester_name", Text, nullable=False),
    Column("kube_user", Text, nullable=True),
    Column("kube_groups", _json(), nullable=False),
    Column("state", String(64), nullable=False),
    Column("plan", _json(), nullable=False),
    Column("plan_hash", Text, nullable=False),
    Column("request_key", Text, nullable=True, unique=True),
    Column("channel", Text, nullable=True),
    Column("message_ts", Text, nullable=True),
    Column("audit_ts", Text, nullable=True),
    Column("approvals_required", Integer, nullable=False, default=0),
    Column("policy", _json(), nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("break_glass_reason", Text, nullable=True),
    Column("outcome", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("heartbeat_at", UTCDateTime, nullable=True),
    Index("ix_runs_state", "state"),
    Index("ix_runs_created_at", "created_at"),
)

approvals = Table(
    "approvals",
    _metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("approver_chat_id", Text, nullable=False),
    Column("approver_name", Text, nullable=False),
    Column("kube_user", Text, nullable=True),
    Column("decision", String(16), nullable=False),
    Column("plan_hash", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint("run_id", "approver_chat_id", name="uq_approvals_run_approver"),
)

audit_events = Table(
    "audit_events",
    _metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=True),  # no foreign key: audit is written even without a run
    Column("at", UTCDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("summary", Text, nullable=False),
    Column("detail", _json(), nullable=False),
    Index("ix_audit_events_run_id", "run_id"),
    Index("ix_audit_events_at", "at"),
    sqlite_autoincrement=True,
)


def apply(conn: Connection) -> None:
    """Create the tables of version 1."""
    _metadata.create_all(conn)
