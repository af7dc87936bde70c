"""Tables of schema version 3: what steps keep for their run.

``group_claims`` has one row per node group (``key``, the primary key): the run that holds it.
The key's uniqueness is what allows one replacement at a time per group, across replicas.
``run_artifacts`` holds the typed values one step hands to the next (one per run, kind and key).
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, PrimaryKeyConstraint, String, Table, Text

from bot.store.schema import UTCDateTime, metadata

group_claims = Table(
    "group_claims",
    metadata,
    Column("key", Text, primary_key=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("node", Text, nullable=False),
    Column("group_name", Text, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("key", Text, nullable=False),
    Column("data", JSON(none_as_null=True), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("run_id", "kind", "key", name="pk_run_artifacts"),
)
