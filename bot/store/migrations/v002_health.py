"""Migration 2 (release 0.1.0): alert state, posted digests and etcd backup records.

Frozen: these definitions are what version 2 created and never change.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from bot.store.schema import UTCDateTime

_metadata = MetaData()

alerts = Table(
    "alerts",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("key", Text, nullable=False),
    Column("active_key", Text, nullable=True, unique=True),
    Column("cluster", Text, nullable=False),
    Column("check_name", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("details", JSON(none_as_null=True), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("fired_at", UTCDateTime, nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("channel", Text, nullable=True),
    Column("message_ts", Text, nullable=True),
    Column("post_claimed_at", UTCDateTime, nullable=True),
    Column("post_claimed_by", Text, nullable=True),
    Column("last_notified_at", UTCDateTime, nullable=True),
    Column("notify_count", Integer, nullable=False, default=0),
    Column("acked_by", Text, nullable=True),
    Column("acked_at", UTCDateTime, nullable=True),
    Column("silenced_until", UTCDateTime, nullable=True),
    Column("silenced_by", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_alerts_state", "state"),
    Index("ix_alerts_cluster_state", "cluster", "state"),
    Index("ix_alerts_key", "key"),
)

digests = Table(
    "digests",
    _metadata,
    Column("name", Text, nullable=False),
    Column("scheduled_for", UTCDateTime, nullable=False),
    Column("claimed_by", Text, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("channel", Text, nullable=True),
    Column("message_ts", Text, nullable=True),
    Column("posted_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("name", "scheduled_for", name="pk_digests"),
)

backups = Table(
    "backups",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("cluster", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("location", Text, nullable=True),
    Column("size_bytes", BigInteger, nullable=True),
    Column("sha256", Text, nullable=True),
    Column("detail", JSON(none_as_null=True), nullable=False),
    Index("ix_backups_cluster_finished", "cluster", "finished_at"),
)


def apply(conn: Connection) -> None:
    """Create the tables of version 2."""
    _metadata.create_all(conn)
