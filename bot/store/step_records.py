"""Store methods for what steps keep for their run (mixed into ``Store``): group claims and artifacts,
and the retention purge that removes old runs with everything attached to them.

A group claim is a row keyed by the group: taking it is an insert, or — when the holder's run is
no longer active — a compare-and-set on the holder. Whatever the number of replicas racing,
exactly one run holds a group. Artifacts are the typed values a step hands to the next
(``bot.steps.artifacts`` gives them their types); storing them keeps them with the run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.health_schema import alerts, digests
from bot.store.records import GroupClaim
from bot.store.schema import approvals, audit_events, runs
from bot.store.states import FINAL
from bot.store.step_schema import group_claims, run_artifacts

CLAIM_ATTEMPTS = 5


class StepRecords:
    """Group claim and artifact methods of ``Store``."""

    if TYPE_CHECKING:
        _clock: Callable[[], datetime]

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _read(self) -> AbstractContextManager[Connection]: ...

    # ------------------------------------------------------------------------------ group claims
    def claim_group(self, claim: GroupClaim, active_states: Collection[str]) -> GroupClaim | None:
        """Take ``claim.key`` for ``claim.run_id``. None when it is now ours; else the holder's claim.

        A claim whose run is not in ``active_states`` any more (finished, interrupted) is free and
        taken over with a compare-and-set on its holder.
        """
        claim.claimed_at = claim.claimed_at or self._clock()
        for _ in range(CLAIM_ATTEMPTS):
            try:
                with self._write() as conn:
                    row = conn.execute(select(group_claims).where(group_claims.c.key == claim.key)).first()
                    if row is None:
                        conn.execute(insert(group_claims).values(**_claim_values(claim)))
                        return None
                    held = GroupClaim(**dict(row._mapping))
                    if held.run_id == claim.run_id:
                        return None
                    if _run_state(conn, held.run_id) in active_states:
                        return held
                    taken = conn.execute(
                        update(group_claims)
                        .where(group_claims.c.key == claim.key, group_claims.c.run_id == held.run_id)
                        .values(**_claim_values(claim))
                    )
                    if taken.rowcount == 1:
                        return None
            except IntegrityError:
                continue  # another replica inserted the same key at the same moment: look again
        raise RuntimeError(f"could not settle the claim on {claim.key} after {CLAIM_ATTEMPTS} attempts")

    def group_claim_holder(
        self, key: str, active_states: Collection[str], *, other_than: str | None = None
    ) -> GroupClaim | None:
        """The claim on ``key`` of a run still in ``active_states`` (other than run ``other_than``), or None."""
        with self._read() as conn:
            row = conn.execute(select(group_claims).where(group_claims.c.key == key)).first()
            if row is None:
                return None
            held = GroupClaim(**dict(row._mapping))
            if held.run_id == other_than or _run_state(conn, held.run_id) not in active_states:
                return None
            return held

    def release_group_claims(self, run_id: str) -> int:
        """Release every claim ``run_id`` holds; the number released."""
        with self._write() as conn:
            return int(conn.execute(delete(group_claims).where(group_claims.c.run_id == run_id)).rowcount)

    # --------------------------------------------------------------------------------- retention
    def purge(
        self, *, runs_before: datetime | None, audit_before: datetime | None, alerts_before: datetime | None
    ) -> dict[str, int]:
        """Delete what is older than the cut-offs (None: keep): finished runs with their approvals, claims and
        artifacts; audit events; resolved alerts and old digests. The number of rows deleted, per kind."""
        counts = {"runs": 0, "audit_events": 0, "alerts": 0}
        with self._write() as conn:
            if runs_before is not None:
                old = select(runs.c.id).where(runs.c.state.in_(list(FINAL)), runs.c.finished_at < runs_before)
                ids = [row[0] for row in conn.execute(old)]
                for table in (run_artifacts, group_claims):
                    conn.execute(delete(table).where(table.c.run_id.in_(ids)))
                conn.execute(delete(approvals).where(approvals.c.run_id.in_(ids)))
                counts["runs"] = int(conn.execute(delete(runs).where(runs.c.id.in_(ids))).rowcount)
            if audit_before is not None:
                counts["audit_events"] = int(
                    conn.execute(delete(audit_events).where(audit_events.c.at < audit_before)).rowcount
                )
            if alerts_before is not None:
                resolved = and_(alerts.c.state == "resolved", alerts.c.resolved_at < alerts_before)
                counts["alerts"] = int(conn.execute(delete(alerts).where(resolved)).rowcount)
                conn.execute(delete(digests).where(digests.c.scheduled_for < alerts_before))
        return counts

    # --------------------------------------------------------------------------------- artifacts
    def put_artifact(self, run_id: str, kind: str, key: str, data: dict[str, Any]) -> None:
        """Store (or replace) the artifact ``kind``/``key`` of a run."""
        values = {"run_id": run_id, "kind": kind, "key": key, "data": data, "updated_at": self._clock()}
        where = (run_artifacts.c.run_id == run_id, run_artifacts.c.kind == kind, run_artifacts.c.key == key)
        with self._write() as conn:
            if conn.execute(update(run_artifacts).where(*where).values(**values)).rowcount == 0:
                conn.execute(insert(run_artifacts).values(**values))

    def get_artifact(self, run_id: str, kind: str, key: str) -> dict[str, Any] | None:
        """The artifact ``kind``/``key`` of a run, or None."""
        where = (run_artifacts.c.run_id == run_id, run_artifacts.c.kind == kind, run_artifacts.c.key == key)
        with self._read() as conn:
            row = conn.execute(select(run_artifacts.c.data).where(*where)).first()
        return None if row is None else dict(row[0])


def _claim_values(claim: GroupClaim) -> dict[str, Any]:
    return {
        "key": claim.key,
        "run_id": claim.run_id,
        "node": claim.node,
        "group_name": claim.group_name,
        "claimed_at": claim.claimed_at,
    }


def _run_state(conn: Connection, run_id: str) -> str | None:
    return conn.execute(select(runs.c.state).where(runs.c.id == run_id)).scalar_one_or_none()
