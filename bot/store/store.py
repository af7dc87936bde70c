"""``Store``: runs, approvals, audit events (and, via ``HealthRecords``, alerts, digests, backups).

Every write is its own short transaction. ``transition`` is an atomic compare-and-set on a
run's state -- a single ``UPDATE ... WHERE id = :id AND state IN (...)`` -- which is what makes
a double-clicked button, a Slack retry or two replicas racing execute a step once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.store.connection import WRITE_LOCK, create_store_engine, parse_url, store_error
from bot.store.health_records import HealthRecords
from bot.store.migrations import current_version, migrate
from bot.store.records import ApprovalRecord, AuditEvent, RunRecord
from bot.store.schema import RUN_COLUMNS, approvals, audit_events, runs
from bot.store.states import ACTIVE, RESUMABLE, RunState, check_transition
from bot.store.step_records import StepRecords

#: ``transition``'s default for ``owner``/``heartbeat_was``: not part of the condition.
ANY: object = object()
_RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunRecord))
_APPROVAL_FIELDS = frozenset(f.name for f in dataclasses.fields(ApprovalRecord))
assert set(_RUN_FIELDS) == RUN_COLUMNS, "RunRecord and the runs table disagree"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the store's default clock)."""
    return datetime.now(UTC)


class Store(HealthRecords, StepRecords):
    """The durable store. Thread-safe; several processes may share one database.

    ``url`` is a SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``); an invalid
    or unreachable database raises ``ConfigError``. ``clock`` gives the times the store stamps
    (``created_at``, ``updated_at``, audit ``at``). Use ``Store.open`` to also migrate.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utc_now) -> None:
        """Connect to ``url`` (checked by opening one connection); does not migrate."""
        self._clock = clock
        self._engine = create_store_engine(url)

    @classmethod
    def open(cls, url: str, **kw: Any) -> Store:
        """Connect to ``url`` and apply pending migrations."""
        store = cls(url, **kw)
        try:
            store.migrate()
        except OperationalError as exc:  # e.g. "attempt to write a readonly database": say which file and why
            store.close()
            raise store_error(parse_url(url), str(exc.orig)) from None
        except BaseException:
            store.close()
            raise
        return store

    def migrate(self) -> int:
        """Apply pending schema migrations (safe when several processes start at once); return the version."""
        return migrate(self._engine, self._clock)

    def schema_version(self) -> int:
        """The database's schema version, without changing anything (0: never migrated)."""
        return current_version(self._engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        """Use the store as a context manager; it is closed on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the store."""
        self.close()

    # ------------------------------------------------------------------------------------ runs
    def create_run(self, rec: RunRecord) -> bool:
        """Insert a run; False (nothing written) if its ``request_key`` is already recorded.

        ``created_at`` and ``updated_at`` are stamped (on ``rec`` too) when None. A run whose
        ``id`` already exists with another request key raises ``ValueError``.
        """
        if rec.created_at is None:
            rec.created_at = self._clock()
        if rec.updated_at is None:
            rec.updated_at = rec.created_at
        values = dataclasses.asdict(rec)
        _check_times(values)
        try:
            with self._write() as conn:
                conn.execute(insert(runs).values(**values))
        except IntegrityError:
            if rec.request_key is not None and self._exists(runs.c.request_key == rec.request_key):
                return False
            if self._exists(runs.c.id == rec.id):
                raise ValueError(f"a run with id {rec.id!r} already exists") from None
            raise
        return True

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or None."""
        with self._read() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        return None if row is None else _run(row)

    def transition(
        self,
        run_id: str,
        from_states: Collection[str],
        to_state: str,
        *,
        owner: str | object | None = ANY,
        heartbeat_was: datetime | object | None = ANY,
        **fields: Any,
    ) -> bool:
        """Atomically move a run from one of ``from_states`` to ``to_state``, setting ``fields`` too.

        True iff this call changed the row: of any number of concurrent callers (threads,
        processes, replicas) racing the same transition, exactly one gets True. ``owner`` and
        ``heartbeat_was``, when given, must also still match (``None`` means NULL): an executor
        finishes only a run it still owns; a takeover succeeds only if the owner stayed silent.
        A move ``TRANSITIONS`` does not allow raises ``ValueError``.
        """
        values = _run_fields(fields, forbidden=("id", "state"))
        if not from_states:
            return False
        sources, target = check_transition(from_states, to_state)
        values["state"] = target.value
        values.setdefault("updated_at", self._clock())
        where = [runs.c.id == run_id, runs.c.state.in_([s.value for s in sources])]
        where += _matches(runs.c.owner_id, owner) + _matches(runs.c.heartbeat_at, heartbeat_was)
        with self._write() as conn:
            return conn.execute(update(runs).where(*where).values(**values)).rowcount == 1

    def heartbeat(self, owner_id: str, run_ids: Collection[str]) -> set[str]:
        """Stamp ``heartbeat_at`` on the runs ``owner_id`` still owns (and that are active); return their ids."""
        if not run_ids:
            return set()
        statement = (
            update(runs)
            .where(runs.c.owner_id == owner_id, runs.c.id.in_(list(run_ids)), runs.c.state.in_(list(ACTIVE)))
            .values(heartbeat_at=self._clock())
            .returning(runs.c.id)
        )
        with self._write() as conn:
            return {str(row[0]) for row in conn.execute(statement)}

    def take_queued_run(
        self, run_id: str, owner: str | None, heartbeat: datetime | None, new_owner: str, now: datetime
    ) -> bool:
        """Make a queued run ``new_owner``'s if it still has the ``owner`` and ``heartbeat`` seen (compare-and-set)."""
        return self._take_run(run_id, [RunState.QUEUED], owner, heartbeat, new_owner, now)

    def take_running_run(
        self, run_id: str, owner: str | None, heartbeat: datetime | None, new_owner: str, now: datetime
    ) -> bool:
        """Make a running (or aborting) run ``new_owner``'s, keeping its state, if it still has the ``owner`` and
        ``heartbeat`` seen (compare-and-set): the takeover of a run whose step resumes from its stored state."""
        return self._take_run(run_id, RESUMABLE, owner, heartbeat, new_owner, now)

    def release_running_run(self, run_id: str, owner: str) -> bool:
        """Hand a resumable run back (heartbeat cleared; state and owner kept) so any replica's recovery resumes it."""
        where = [runs.c.id == run_id, runs.c.state.in_([s.value for s in RESUMABLE]), runs.c.owner_id == owner]
        with self._write() as conn:
            changed = conn.execute(update(runs).where(*where).values(heartbeat_at=None)).rowcount
        return bool(changed == 1)

    def _take_run(
        self,
        run_id: str,
        states: Collection[RunState],
        owner: str | None,
        heartbeat: datetime | None,
        new_owner: str,
        now: datetime,
    ) -> bool:
        where = [runs.c.id == run_id, runs.c.state.in_([s.value for s in states])]
        where += _matches(runs.c.owner_id, owner) + _matches(runs.c.heartbeat_at, heartbeat)
        with self._write() as conn:
            changed = conn.execute(update(runs).where(*where).values(owner_id=new_owner, heartbeat_at=now)).rowcount
        return bool(changed == 1)

    def release_queued_run(self, run_id: str, owner: str) -> bool:
        """Hand a queued run back (no owner, no heartbeat) so any replica's recovery takes it at once."""
        where = [runs.c.id == run_id, runs.c.state == RunState.QUEUED.value, runs.c.owner_id == owner]
        with self._write() as conn:
            changed = conn.execute(update(runs).where(*where).values(owner_id=None, heartbeat_at=None)).rowcount
        return bool(changed == 1)

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set ``fields`` on a run whatever its state (and ``updated_at``); unknown names raise ``ValueError``."""
        values = _run_fields(fields, forbidden=("id",))
        values.setdefault("updated_at", self._clock())
        with self._write() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def recent_runs(self, *, limit: int = 20, since: datetime | None = None) -> list[RunRecord]:
        """The newest runs first (by ``created_at``), optionally only those created at or after ``since``."""
        query = select(runs)
        if since is not None:
            _check_times({"since": since})
            query = query.where(runs.c.created_at >= since)
        query = query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [_run(row) for row in conn.execute(query)]

    def runs_in_states(self, states: Collection[str], *, heartbeat_before: datetime | None = None) -> list[RunRecord]:
        """Runs whose state is one of ``states``, oldest first.

        With ``heartbeat_before``, only runs whose ``heartbeat_at`` is NULL or older than it
        (runs whose worker looks dead).
        """
        if not states:
            return []
        query = select(runs).where(runs.c.state.in_(list(states)))
        if heartbeat_before is not None:
            _check_times({"heartbeat_before": heartbeat_before})
            query = query.where(or_(runs.c.heartbeat_at.is_(None), runs.c.heartbeat_at < heartbeat_before))
        query = query.order_by(runs.c.created_at, runs.c.id)
        with self._read() as conn:
            return [_run(row) for row in conn.execute(query)]

    # ------------------------------------------------------------------------------- approvals
    def add_approval(self, rec: ApprovalRecord) -> bool:
        """Record a decision; False if this approver already decided on this run.

        ``at`` is stamped (on ``rec`` too) when None. An unknown run raises ``ValueError``.
        """
        if rec.at is None:
            rec.at = self._clock()
        values = dataclasses.asdict(rec)
        _check_times(values)
        try:
            with self._write() as conn:
                conn.execute(insert(approvals).values(**values))
        except IntegrityError:
            duplicate = and_(approvals.c.run_id == rec.run_id, approvals.c.approver_chat_id == rec.approver_chat_id)
            if self._exists(duplicate):
                return False
            if not self._exists(runs.c.id == rec.run_id):
                raise ValueError(f"no run with id {rec.run_id!r}") from None
            raise
        return True

    def record_denial(self, rec: ApprovalRecord) -> None:
        """Record a deny decision; an approver who approved before has that decision replaced by the deny."""
        if rec.at is None:
            rec.at = self._clock()
        values = dataclasses.asdict(rec)
        _check_times(values)
        mine = and_(approvals.c.run_id == rec.run_id, approvals.c.approver_chat_id == rec.approver_chat_id)
        with self._write() as conn:
            changed = conn.execute(
                update(approvals).where(mine).values(decision=rec.decision, reason=rec.reason, at=rec.at)
            ).rowcount
            if changed == 0:
                conn.execute(insert(approvals).values(**values))

    def approvals(self, run_id: str) -> list[ApprovalRecord]:
        """The decisions recorded on a run, oldest first."""
        query = select(approvals).where(approvals.c.run_id == run_id).order_by(approvals.c.at, approvals.c.id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [ApprovalRecord(**{k: v for k, v in row._mapping.items() if k in _APPROVAL_FIELDS}) for row in rows]

    # ----------------------------------------------------------------------------------- audit
    def add_audit(
        self, run_id: str | None, actor: str, kind: str, summary: str, detail: dict[str, Any] | None = None
    ) -> AuditEvent:
        """Store one audit event, stamped with the store's clock, and return it."""
        at = self._clock()
        _check_times({"at": at})
        body = dict(detail or {})
        values = {"run_id": run_id, "at": at, "actor": actor, "kind": kind, "summary": summary, "detail": body}
        with self._write() as conn:
            key = conn.execute(insert(audit_events).values(**values)).inserted_primary_key
        assert key is not None
        return AuditEvent(
            id=int(key[0]), run_id=run_id, at=at.astimezone(UTC), actor=actor, kind=kind, summary=summary, detail=body
        )

    def audit_events(self, *, run_id: str | None = None, limit: int = 20) -> list[AuditEvent]:
        """The newest audit events first, optionally only those of one run."""
        query = select(audit_events)
        if run_id is not None:
            query = query.where(audit_events.c.run_id == run_id)
        query = query.order_by(audit_events.c.at.desc(), audit_events.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [AuditEvent(**dict(row._mapping)) for row in conn.execute(query)]

    # --------------------------------------------------------------------------------- helpers
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that holds the write lock from its start (SQLite: ``BEGIN IMMEDIATE``)."""
        with self._engine.connect().execution_options(**{WRITE_LOCK: True}) as conn, conn.begin():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def _exists(self, condition: Any) -> bool:
        with self._read() as conn:
            return bool(conn.execute(select(exists().where(condition))).scalar())


def _run(row: Any) -> RunRecord:
    mapping = row._mapping
    return RunRecord(**{name: mapping[name] for name in _RUN_FIELDS})


def _matches(column: Any, expected: object) -> list[Any]:
    """The condition ``column == expected`` (``IS NULL`` for None); none for ``ANY``."""
    if expected is ANY:
        return []
    if isinstance(expected, datetime):
        _check_times({column.name: expected})
    return [column.is_(None) if expected is None else column == expected]


def _run_fields(fields: dict[str, Any], *, forbidden: tuple[str, ...]) -> dict[str, Any]:
    """Check field names and times given to ``transition`` / ``update_run``."""
    unknown = sorted(set(fields) - RUN_COLUMNS)
    if unknown:
        raise ValueError(f"unknown run field(s): {', '.join(unknown)}")
    refused = sorted(set(fields) & set(forbidden))
    if refused:
        raise ValueError(f"run field(s) that cannot be set here: {', '.join(refused)}")
    _check_times(fields)
    return dict(fields)


def _check_times(values: dict[str, Any]) -> None:
    """Refuse naive datetimes: every time the store keeps is timezone-aware."""
    for name, value in values.items():
        if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"{name} must be a timezone-aware datetime, got {value.isoformat()}")
