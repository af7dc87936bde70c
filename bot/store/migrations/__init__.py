"""A small versioned schema-migration runner, with each migration's DDL frozen in its own module.

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
from sqlalchemy import inspect as sa_inspect

from bot.errors import ConfigError, ConfigProblem
from bot.store.connection import WRITE_LOCK
from bot.store.migrations import v001_runs, v002_health, v003_step_records, v004_run_owner
from bot.store.schema import schema_version

#: Key of the PostgreSQL advisory lock held while migrating (any constant unique to this app).
ADVISORY_LOCK_KEY = 0x6B3872756E626B  # "k8runbk"


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply`` runs inside the transaction that records ``version``."""

    version: int
    description: str
    apply: Callable[[Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs, approvals and audit_events", v001_runs.apply),
    Migration(2, "alerts, digests and backups", v002_health.apply),
    Migration(3, "group_claims and run_artifacts", v003_step_records.apply),
    Migration(4, "runs.owner_id", v004_run_owner.apply),
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


def current_version(engine: Engine) -> int:
    """The schema version of the database (0 when it was never migrated); reads only."""
    with engine.connect() as conn:
        if not sa_inspect(conn).has_table(schema_version.name):
            return 0
        return int(conn.execute(select(func.max(schema_version.c.version))).scalar_one_or_none() or 0)
