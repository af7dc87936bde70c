"""Store methods for alerts, digests and backup records (mixed into ``Store``).

Like runs, every change an alert's notification depends on is a compare-and-set: firing
(``alert_transition``), re-notifying (``claim_alert`` on ``last_notified_at``), posting a
digest (``claim_digest``). Of any number of replicas racing, exactly one wins and posts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.health_schema import ALERT_COLUMNS, alerts, backups, digests
from bot.store.records import AlertRecord, BackupRecord, DigestRecord

_ALERT_FIELDS = tuple(f.name for f in dataclasses.fields(AlertRecord))
_BACKUP_FIELDS = tuple(f.name for f in dataclasses.fields(BackupRecord))
_DIGEST_FIELDS = tuple(f.name for f in dataclasses.fields(DigestRecord))
OPEN_STATES = ("pending", "firing")
assert set(_ALERT_FIELDS) == ALERT_COLUMNS, "AlertRecord and the alerts table disagree"


class HealthRecords:
    """Alert, digest and backup methods of ``Store``."""

    if TYPE_CHECKING:
        _clock: Callable[[], datetime]

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _read(self) -> AbstractContextManager[Connection]: ...

    # ---------------------------------------------------------------------------------- alerts
    def open_alert(self, rec: AlertRecord) -> bool:
        """Insert a new open alert; False (nothing written) if one is already open for its key."""
        now = self._clock()
        rec.created_at = rec.created_at or now
        rec.updated_at = rec.updated_at or rec.created_at
        rec.active_key = rec.key if rec.state in OPEN_STATES else None
        values = dataclasses.asdict(rec)
        _check_times(values)
        try:
            with self._write() as conn:
                conn.execute(insert(alerts).values(**values))
        except IntegrityError:
            with self._read() as conn:
                taken = conn.execute(select(alerts.c.id).where(alerts.c.active_key == rec.key)).first()
            if taken is not None:
                return False
            raise
        return True

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        """The alert with this id, or None."""
        with self._read() as conn:
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        return None if row is None else _alert(row)

    def open_alerts(self, *, cluster: str | None = None, states: Collection[str] = OPEN_STATES) -> list[AlertRecord]:
        """Alerts in ``states`` (default: pending and firing), optionally of one cluster, oldest first."""
        query = select(alerts).where(alerts.c.state.in_(list(states)))
        if cluster is not None:
            query = query.where(alerts.c.cluster == cluster)
        with self._read() as conn:
            return [_alert(r) for r in conn.execute(query.order_by(alerts.c.since, alerts.c.id))]

    def resolved_alerts(self, *, since: datetime, cluster: str | None = None, limit: int = 50) -> list[AlertRecord]:
        """Alerts that fired and were resolved at or after ``since``, newest first."""
        _check_times({"since": since})
        query = select(alerts).where(alerts.c.state == "resolved", alerts.c.fired_at.is_not(None))
        query = query.where(alerts.c.resolved_at >= since)
        if cluster is not None:
            query = query.where(alerts.c.cluster == cluster)
        query = query.order_by(alerts.c.resolved_at.desc(), alerts.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [_alert(r) for r in conn.execute(query)]

    def alert_transition(self, alert_id: str, from_states: Collection[str], to_state: str, **fields: Any) -> bool:
        """Atomically move an alert from one of ``from_states`` to ``to_state`` (setting ``fields``).

        True iff this call changed the row. Leaving the open states frees the key for a new alert.
        """
        values = _alert_fields(fields)
        values["state"] = to_state
        if to_state not in OPEN_STATES:
            values["active_key"] = None
        values.setdefault("updated_at", self._clock())
        statement = (
            update(alerts).where(alerts.c.id == alert_id, alerts.c.state.in_(list(from_states))).values(**values)
        )
        with self._write() as conn:
            return conn.execute(statement).rowcount == 1

    def claim_alert(self, alert_id: str, column: str, expected: Any, **fields: Any) -> bool:
        """Set ``fields`` only if ``column`` still holds ``expected`` (None means NULL); True iff it did."""
        if column not in ALERT_COLUMNS:
            raise ValueError(f"unknown alert field {column!r}")
        values = _alert_fields(fields)
        values.setdefault("updated_at", self._clock())
        col = alerts.c[column]
        if isinstance(expected, datetime):
            _check_times({column: expected})
        condition = col.is_(None) if expected is None else col == expected
        statement = update(alerts).where(alerts.c.id == alert_id, condition).values(**values)
        with self._write() as conn:
            return conn.execute(statement).rowcount == 1

    def update_alert(self, alert_id: str, **fields: Any) -> None:
        """Set ``fields`` on an alert whatever its state."""
        values = _alert_fields(fields)
        values.setdefault("updated_at", self._clock())
        with self._write() as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))

    # --------------------------------------------------------------------------------- digests
    def claim_digest(self, name: str, scheduled_for: datetime, claimed_by: str) -> bool:
        """Claim the digest ``name`` for its cron time ``scheduled_for``; False if it was already claimed."""
        values = {"name": name, "scheduled_for": scheduled_for, "claimed_by": claimed_by, "claimed_at": self._clock()}
        _check_times(values)
        try:
            with self._write() as conn:
                conn.execute(insert(digests).values(**values))
        except IntegrityError:
            return False
        return True

    def finish_digest(self, name: str, scheduled_for: datetime, channel: str | None, message_ts: str | None) -> None:
        """Record where a claimed digest was posted."""
        with self._write() as conn:
            conn.execute(
                update(digests)
                .where(and_(digests.c.name == name, digests.c.scheduled_for == scheduled_for))
                .values(channel=channel, message_ts=message_ts, posted_at=self._clock())
            )

    def last_digest(self, name: str, *, before: datetime) -> DigestRecord | None:
        """The newest digest ``name`` claimed for a cron time before ``before``."""
        _check_times({"before": before})
        query = (
            select(digests)
            .where(digests.c.name == name, digests.c.scheduled_for < before)
            .order_by(digests.c.scheduled_for.desc())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else DigestRecord(**{k: row._mapping[k] for k in _DIGEST_FIELDS})

    # --------------------------------------------------------------------------------- backups
    def record_backup(self, rec: BackupRecord) -> None:
        """Insert a backup record, or update the one with the same id (a run that finished)."""
        values = dataclasses.asdict(rec)
        _check_times(values)
        with self._write() as conn:
            changed = conn.execute(update(backups).where(backups.c.id == rec.id).values(**values)).rowcount
            if not changed:
                conn.execute(insert(backups).values(**values))

    def last_backup(self, cluster: str, *, status: str = "succeeded") -> BackupRecord | None:
        """The backup of ``cluster`` in ``status`` that finished last, or None."""
        query = (
            select(backups)
            .where(backups.c.cluster == cluster, backups.c.status == status, backups.c.finished_at.is_not(None))
            .order_by(backups.c.finished_at.desc())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else BackupRecord(**{k: row._mapping[k] for k in _BACKUP_FIELDS})


def _alert(row: Any) -> AlertRecord:
    mapping = row._mapping
    return AlertRecord(**{name: mapping[name] for name in _ALERT_FIELDS})


def _alert_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - ALERT_COLUMNS)
    if unknown:
        raise ValueError(f"unknown alert field(s): {', '.join(unknown)}")
    refused = sorted(set(fields) & {"id", "key", "active_key", "state"})
    if refused:
        raise ValueError(f"alert field(s) that cannot be set here: {', '.join(refused)}")
    _check_times(fields)
    return dict(fields)


def _check_times(values: dict[str, Any]) -> None:
    for name, value in values.items():
        if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"{name} must be a timezone-aware datetime, got {value.isoformat()}")
