"""A small versioned schema-migration runner.

``schema_version`` holds one row per applied version. ``MIGRATIONS`` is the ordered list of
steps; ``migrate`` applies the pending ones, each in its own transaction, under a lock that
serialises concurrent starters (several replicas, or several processes on one SQLite file):
``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` (the write lock) on SQLite. The
version is re-read under the lock, so a step another process applied meanwhile is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, select, text

from bot.errors import ConfigError, ConfigProblem
from bot.store.connection import WRITE_LOCK
from bot.store.health_schema import alerts, backups, digests
from bot.store.schema import approvals, audit_events, runs, schema_version
from bot.store.step_schema import group_claims, run_artifacts

#: Key of the PostgreSQL advisory lock held while migrating (any constant unique to this app).
ADVISORY_LOCK_KEY = 0x6B3872756E626B  # "k8runbk"


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply`` runs inside the transaction that records ``version``."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    """Runs, approvals (unique per run and approver) and audit events."""
    for table in (runs, approvals, audit_events):
        table.create(conn)


def _v2_health(conn: Connection) -> None:
    """Alert state (one open alert per cluster/check/subject), posted digests, backup records."""
    for table in (alerts, digests, backups):
        table.create(conn)


def _v3_step_records(conn: Connection) -> None:
    """Group claims (one row per node group) and the artifacts steps hand each other."""
    for table in (group_claims, run_artifacts):
        table.create(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs, approvals and audit_events", _v1_initial),
    Migration(2, "alerts, digests and backups", _v2_health),
    Migration(3, "group_claims and run_artifacts", _v3_step_records),
)

#: The schema version this code expects after ``migrate``.
LATEST_VERSION = MIGRATIONS[-1].version


def migrate(engine: Engine, clock: Callable[[], datetime], steps: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply every pending step of ``steps`` and return the resulting schema version.

    Idempotent: with nothing pending it only reads the version. A database newer than the
    newest step (written by a newer release) is refused with ``ConfigError``.
    """
    versions = [step.version for step in steps]
    if versions != sorted(set(versions)):
        raise ValueError(f"migration versions must be unique and ascending: {versions}")
    while True:
        with engine.connect().execution_options(**{WRITE_LOCK: True}) as conn, conn.begin():
            _lock(conn)
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(select(func.max(schema_version.c.version))).scalar_one_or_none() or 0
            newest = versions[-1] if versions else 0
            if current > newest:
                raise ConfigError(
                    [
                        ConfigProblem(
                            "store.url",
                            "store.url",
                            f"the database schema is version {current}, newer than this release knows "
                            f"({newest}); upgrade the bot",
                        )
                    ]
                )
            pending = [step for step in steps if step.version > current]
            if not pending:
                return current
            step = pending[0]
            step.apply(conn)
            conn.execute(
                insert(schema_version).values(version=step.version, description=step.description, applied_at=clock())
            )


def _lock(conn: Connection) -> None:
    """Serialise migrators: an advisory lock on PostgreSQL (SQLite already holds its write lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
