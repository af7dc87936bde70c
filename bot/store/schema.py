"""Table definitions (SQLAlchemy Core) for the current schema version, and the UTC time type.

These are the tables as the code uses them now. The migrations (``bot.store.migrations``) create
and alter them version by version, each with its own frozen DDL; a test migrates a database of
the first release to the newest version and compares it with these definitions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC ``datetime`` on every backend.

    Values written must be timezone-aware; they are converted to UTC. SQLite has no time zones,
    so there the value is stored as naive UTC (a fixed-width string, which keeps comparisons and
    ordering correct) and UTC is attached again on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Check and convert a value on its way to the database."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the store needs timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return a value read from the database as timezone-aware UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json() -> JSON:
    return JSON(none_as_null=True)


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

runs = Table(
    "runs",
    metadata,
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
    Column("owner_id", Text, nullable=True),
    Index("ix_runs_state", "state"),
    Index("ix_runs_created_at", "created_at"),
)

approvals = Table(
    "approvals",
    metadata,
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
    metadata,
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

#: Column names of ``runs`` (the fields of ``RunRecord``).
RUN_COLUMNS: frozenset[str] = frozenset(c.name for c in runs.columns)
