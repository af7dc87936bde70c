"""The run records as the workflow uses them: read, move (checked), audit, render.

Requests, decisions, execution and recovery all go through one ``RunLedger``: every state change
is the store's compare-and-set, and a change the caller needed but did not get (another replica
took the run over, a click raced another) is logged and audited as lost — never reported as done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from bot.config.settings import ApprovalRule, Settings
from bot.engine.plans import run_report
from bot.errors import UserError
from bot.report import Report
from bot.steps.artifacts import RunArtifacts, RunHold
from bot.store import AuditEvent, RunRecord, Store

log = logging.getLogger("bot.workflow")
AuditSink = Callable[[RunRecord | None, AuditEvent], None]


def utcnow() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


class RunLedger:
    """The store, the clock and the audit sink, as every part of the workflow needs them."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        audit_sink: AuditSink | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.audit_sink = audit_sink

    def get(self, run_id: str) -> RunRecord:
        """The run; a UserError when there is none."""
        rec = self.store.get_run(run_id)
        if rec is None:
            raise UserError(f"there is no run {run_id}")
        return rec

    def audit(self, rec: RunRecord | None, actor: str, kind: str, summary: str, **detail: object) -> None:
        """Store an audit event and hand it to the sink (the audit channel); a sink failure is only logged."""
        event = self.store.add_audit(rec.id if rec else None, actor, kind, summary, dict(detail))
        if self.audit_sink is None:
            return
        try:
            self.audit_sink(self.store.get_run(rec.id) if rec else None, event)
        except Exception:
            log.exception("audit sink failed", extra={"kind": kind})

    def move(
        self, rec: RunRecord, from_states: Collection[str], to_state: str, *, expected: bool = True, **fields: Any
    ) -> bool:
        """Compare-and-set ``rec`` into ``to_state``; a failure the caller did not expect is logged and audited."""
        if self.store.transition(rec.id, from_states, to_state, **fields):
            return True
        if expected:
            now = self.store.get_run(rec.id)
            where = f"it is {now.state.replace('_', ' ')}" if now else "it no longer exists"
            owner = f" (owner {now.owner_id})" if now and now.owner_id else ""
            log.warning("run state change lost", extra={"to_state": to_state, "state": now.state if now else None})
            self.audit(rec, "bot", "transition_lost", f"could not record {to_state.replace('_', ' ')}: {where}{owner}")
        return False

    def report(self, run_id: str, extra: list[str] | None = None) -> Report:
        """The run's message for its current state."""
        rec = self.get(run_id)
        hold = RunArtifacts(run_id, self.store).get(RunHold) if rec.plan.get("pausable") else None
        return run_report(rec, self.store.approvals(run_id), extra=extra, now=self.clock(), hold=hold)

    def rule(self, runbook: str, risk: str, cluster: str) -> ApprovalRule:
        """The approval rule that applies to ``runbook`` (of ``risk``) on ``cluster``."""
        env = self.settings.clusters[cluster].environment
        return self.settings.policies.rule_for(runbook, risk, cluster, env)
