"""Migration 4: the process that owns (executes) a run, so only stale owners' runs are taken over.

Frozen: this is what version 4 did and it never changes.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def apply(conn: Connection) -> None:
    """Add ``runs.owner_id``."""
    conn.execute(text("ALTER TABLE runs ADD COLUMN owner_id TEXT"))
