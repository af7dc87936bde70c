"""The durable store: runs, approval decisions and audit events (SQLite or PostgreSQL).

The lowest layer: it imports only the standard library, SQLAlchemy and ``bot.errors``.
``Store.open(url)`` connects and migrates; ``Store.transition`` is the atomic compare-and-set
that lets concurrent clicks, retries and replicas act on a run exactly once.
"""

from bot.store.migrations import LATEST_VERSION, MIGRATIONS, Migration
from bot.store.records import (
    AlertRecord,
    ApprovalRecord,
    AuditEvent,
    BackupRecord,
    DigestRecord,
    GroupClaim,
    RunRecord,
)
from bot.store.states import ACTIVE, AWAITING, FINAL, RESUMABLE, TRANSITIONS, RunState
from bot.store.store import Store, utc_now

__all__ = [
    "ACTIVE",
    "AWAITING",
    "FINAL",
    "LATEST_VERSION",
    "MIGRATIONS",
    "RESUMABLE",
    "TRANSITIONS",
    "AlertRecord",
    "ApprovalRecord",
    "AuditEvent",
    "BackupRecord",
    "DigestRecord",
    "GroupClaim",
    "Migration",
    "RunRecord",
    "RunState",
    "Store",
    "utc_now",
]
