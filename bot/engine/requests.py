"""Requests: a command line becomes a stored, planned, authorized run.

Read-only runbooks run at once (they are quick reads as the requester); everything else waits for
its requester's confirmation with the plan shown. A requester whose reads are refused while
planning gets the same answer as one missing a single permission: every permission the runbook
needs, checked with SubjectAccessReview and named.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.config.logs import log_context
from bot.config.settings import ApprovalRule
from bot.engine.engine import Engine, PreparedRun, error_report, new_ref
from bot.engine.ledger import RunLedger
from bot.engine.plans import plan_report
from bot.engine.refusals import refusal_report
from bot.errors import EXPLAINED, BotError, DeniedError
from bot.model import Requester
from bot.report import Report, report_to_dict
from bot.store import RunRecord, RunState

log = logging.getLogger("bot.workflow")


@dataclass
class Outcome:
    """What a surface shows after a command: a report, and the run it belongs to (if stored)."""

    report: Report | None
    run_id: str | None = None
    ok: bool = True
    pending: bool = False  # awaiting a decision (confirmation/approval)
    duplicate: bool = False  # a retried delivery of a request already handled


class RunRequests:
    """Turns commands into runs for every surface."""

    def __init__(self, ledger: RunLedger, engine: Engine, owner_id: str) -> None:
        self.ledger = ledger
        self.engine = engine
        self.owner_id = owner_id

    def request(
        self, text: str, requester: Requester, channel: str | None = None, request_key: str | None = None
    ) -> Outcome:
        """Plan a command. Read-only runbooks run at once; changes wait for confirmation."""
        ref = new_ref()
        with log_context(ref=ref, user=requester.kube_user or requester.chat_id):
            try:
                run = self._prepare(text, requester, channel)
            except BotError as exc:
                self.ledger.audit(None, requester.chat_id, "refused", f"`{text[:200]}`: {exc}")
                _log_failure(exc, "request refused")
                return Outcome(refusal_report(self.engine, exc, ref, text, channel), ok=False)
            except Exception as exc:
                log.exception("internal error while planning")
                return Outcome(error_report(exc, ref), ok=False)
            with log_context(run_id=run.run_id, cluster=run.cluster):
                return self._store_and_authorize(text, requester, channel, request_key, run, ref)

    def _prepare(self, text: str, requester: Requester, channel: str | None) -> PreparedRun:
        """Plan; a refusal while reading the cluster becomes the full list of what the requester lacks."""
        try:
            return self.engine.prepare(text, requester, channel)
        except DeniedError as refused:
            if not requester.impersonates:
                raise
            cluster, needed = self.engine.permissions_without_plan(text, channel)
            missing = self.engine.missing_permissions(cluster, requester, needed)
            if not missing:
                raise
            raise self.engine.denial(requester, cluster, missing) from refused

    def _store_and_authorize(
        self,
        text: str,
        requester: Requester,
        channel: str | None,
        request_key: str | None,
        run: PreparedRun,
        ref: str,
    ) -> Outcome:
        rule = self.ledger.rule(run.runbook.name, run.risk, run.cluster)
        rec = self._record(text, requester, channel, request_key, run, rule)
        if not self.ledger.store.create_run(rec):
            log.info("duplicate request ignored", extra={"request_key": request_key})
            return Outcome(None, duplicate=True)
        summary = f"{requester.describe()}: `{rec.command}` on {rec.cluster}"
        self.ledger.audit(rec, requester.chat_id, "requested", summary, plan_hash=rec.plan_hash)
        try:
            self.engine.authorize(run)
        except BotError as exc:
            self.ledger.move(
                rec, [RunState.PLANNED], RunState.DENIED, outcome=str(exc), finished_at=self.ledger.clock()
            )
            self.ledger.audit(rec, "rbac", "rbac_denied", str(exc))
            _log_failure(exc, "request refused")
            return Outcome(refusal_report(self.engine, exc, ref, text, channel), run_id=rec.id, ok=False)
        if not run.needs_confirmation:
            return self._run_read(rec, run, ref)
        expires = self.ledger.clock() + timedelta(minutes=self.ledger.settings.policies.confirm_expires_minutes)
        self.ledger.move(rec, [RunState.PLANNED], RunState.AWAITING_CONFIRMATION, expires_at=expires)
        described = "; ".join(s.plan.description for s in run.steps)[:500]
        perms = [p.describe() for p in run.permissions]
        self.ledger.audit(rec, requester.chat_id, "planned", described, permissions=perms)
        return Outcome(self.ledger.report(rec.id), run_id=rec.id, pending=True)

    def _record(
        self,
        text: str,
        requester: Requester,
        channel: str | None,
        request_key: str | None,
        run: PreparedRun,
        rule: ApprovalRule,
    ) -> RunRecord:
        plan = plan_report(run, rule)
        doc = {
            **report_to_dict(plan),
            "permissions_json": [p.model_dump(mode="json") for p in run.permissions],
            "step_lines": [s.plan.description for s in run.steps],
            # What recovery and the run message need to know without re-planning (see StepPlan):
            "resumable_steps": [i for i, s in enumerate(run.steps, 1) if s.plan.resumable],
            "pausable": any(s.plan.pausable for s in run.steps),
        }
        bg = self.ledger.settings.policies.break_glass
        policy = {
            **rule.model_dump(mode="json"),
            "break_glass_allowed": bool(set(requester.kube_groups) & set(bg.groups)),
        }
        return RunRecord(
            id=run.run_id,
            runbook=run.runbook.name,
            risk=run.risk,
            cluster=run.cluster,
            namespace=run.namespace,
            command=text.strip(),
            requester_chat_id=requester.chat_id,
            requester_name=requester.display_name,
            kube_user=requester.kube_user,
            kube_groups=list(requester.kube_groups),
            state=RunState.PLANNED,
            plan=doc,
            plan_hash=run.plan_hash,
            request_key=request_key,
            channel=channel,
            approvals_required=rule.approvals if run.needs_confirmation else 0,
            policy=policy if run.needs_confirmation else {},
        )

    def _run_read(self, rec: RunRecord, run: PreparedRun, ref: str) -> Outcome:
        """Execute a read-only run here and now (it only reads, as the requester)."""
        now = self.ledger.clock()
        self.ledger.move(
            rec, [RunState.PLANNED], RunState.RUNNING, started_at=now, heartbeat_at=now, owner_id=self.owner_id
        )
        try:
            report = self.engine.execute(run)
        except BotError as exc:
            self._finish(rec, RunState.FAILED, str(exc))
            _log_failure(exc, "read run failed")
            return Outcome(refusal_report(self.engine, exc, ref, rec.command, rec.channel), run_id=rec.id, ok=False)
        except Exception as exc:
            log.exception("internal error")
            self._finish(rec, RunState.FAILED, f"internal error (ref {ref})")
            return Outcome(error_report(exc, ref), run_id=rec.id, ok=False)
        self._finish(rec, RunState.SUCCEEDED, report.summary or report.title)
        return Outcome(report, run_id=rec.id)

    def _finish(self, rec: RunRecord, state: RunState, outcome: str) -> None:
        now = self.ledger.clock()
        self.ledger.move(rec, [RunState.RUNNING], state, owner=self.owner_id, finished_at=now, outcome=outcome)


def _log_failure(exc: BotError, what: str) -> None:
    """Log a failed request: explained ones as info, anything else as a warning (its ``ref`` is in the context)."""
    if isinstance(exc, EXPLAINED):
        log.info(what, extra={"error": str(exc)})
    else:
        log.warning(what, extra={"error": str(exc), "error_type": type(exc).__name__})
