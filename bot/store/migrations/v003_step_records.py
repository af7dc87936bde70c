"""Migration 3: group claims (one row per node group) and the artifacts steps hand each other.

Frozen: these definitions are what version 3 created and never change.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Connection, MetaData, PrimaryKeyConstraint, String, Table, Text

from bot.store.schema import UTCDateTime

_metadata = MetaData()

group_claims = Table(
    "group_claims",
    _metadata,
    Column("key", Text, primary_key=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("node", Text, nullable=False),
    Column("group_name", Text, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
)

run_artifacts = Table(
    "run_artifacts",
    _metadata,
    Column("run_id", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("key", Text, nullable=False),
    Column("data", JSON(none_as_null=True), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("run_id", "kind", "key", name="pk_run_artifacts"),
)


def apply(conn: Connection) -> None:
    """Create the tables of version 3."""
    _metadata.create_all(conn)
