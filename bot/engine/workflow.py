"""The run lifecycle: request → plan → authorize → confirm → approve → execute, durable and audited.

Every state change is an atomic compare-and-set in the store, so a double-clicked button, a
Slack retry or two replicas racing can move a run forward only once. Buttons carry the plan hash:
a click on a button of another (older) plan does nothing but say so. At execution the targets are
re-resolved and the run stops if the plan changed materially.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.config.settings import ApprovalRule, ApproverSet, Settings
from bot.engine.engine import Engine, PreparedRun, error_report, new_ref
from bot.engine.identity import IdentityMapper
from bot.engine.plans import plan_report, run_report
from bot.errors import AbortedError, BotError, UserError
from bot.model import Permission, Requester
from bot.report import Report, Tone, report_to_dict
from bot.steps.invoke import kube_errors
from bot.store import ApprovalRecord, AuditEvent, RunRecord, Store

log = logging.getLogger("bot.workflow")
OPEN_STATES = ("awaiting_confirmation", "awaiting_approval")
AuditSink = Callable[[RunRecord | None, AuditEvent], None]


def utcnow() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


@dataclass
class Outcome:
    """What a surface shows after a command: a report, and the run it belongs to (if stored)."""

    report: Report | None
    run_id: str | None = None
    ok: bool = True
    pending: bool = False  # awaiting a decision (confirmation/approval)
    duplicate: bool = False  # a retried delivery of a request already handled


@dataclass
class Decision:
    """The answer to a click: a notice for the clicker only, the run message's new content, and
    whether the caller must now execute the run."""

    notice: str | None = None
    report: Report | None = None
    execute: bool = False
    run_id: str | None = None
    extras: list[str] = field(default_factory=list)


class RunService:
    """Drives runs through their lifecycle for every surface (Slack, shell)."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        audit_sink: AuditSink | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.settings = settings
        self.clock = clock
        self.audit_sink = audit_sink
        engine.store = store

    # -- helpers --------------------------------------------------------------------------------
    def audit(self, rec: RunRecord | None, actor: str, kind: str, summary: str, **detail: object) -> None:
        """Store an audit event and hand it to the sink (the audit channel)."""
        event = self.store.add_audit(rec.id if rec else None, actor, kind, summary, dict(detail))
        if self.audit_sink is not None:
            try:
                self.audit_sink(self.store.get_run(rec.id) if rec else None, event)
            except Exception:
                log.exception("audit sink failed", extra={"run_id": rec.id if rec else None, "kind": kind})

    def report_for(self, run_id: str, extra: list[str] | None = None) -> Report:
        """The run's message for its current state."""
        rec = self._get(run_id)
        return run_report(rec, self.store.approvals(run_id), extra=extra, now=self.clock())

    def _get(self, run_id: str) -> RunRecord:
        rec = self.store.get_run(run_id)
        if rec is None:
            raise UserError(f"there is no run {run_id}")
        return rec

    def _rule(self, runbook: str, risk: str, cluster: str) -> ApprovalRule:
        env = self.settings.clusters[cluster].environment
        return self.settings.policies.rule_for(runbook, risk, cluster, env)

    @staticmethod
    def _requester_of(rec: RunRecord) -> Requester:
        return Requester(rec.requester_chat_id, rec.requester_name, rec.kube_user, tuple(rec.kube_groups))

    # -- request --------------------------------------------------------------------------------
    def request(
        self, text: str, requester: Requester, channel: str | None = None, request_key: str | None = None
    ) -> Outcome:
        """Plan a command. Read-only runbooks run at once; changes wait for confirmation."""
        ref = new_ref()
        try:
            run = self.engine.prepare(text, requester, channel)
        except BotError as exc:
            self.audit(None, requester.chat_id, "refused", f"`{text[:200]}`: {exc}")
            return Outcome(error_report(exc, ref), ok=False)
        except Exception as exc:
            log.exception("internal error while planning", extra={"ref": ref})
            return Outcome(error_report(exc, ref), ok=False)
        rule = self._rule(run.runbook.name, run.risk, run.cluster)
        plan = plan_report(run, rule)
        rec = RunRecord(
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
            state="planned",
            plan=_plan_doc(plan, run),
            plan_hash=run.plan_hash,
            request_key=request_key,
            channel=channel,
            approvals_required=rule.approvals if run.needs_confirmation else 0,
            policy=self._policy_doc(rule, requester) if run.needs_confirmation else {},
        )
        if not self.store.create_run(rec):
            log.info("duplicate request ignored", extra={"request_key": request_key})
            return Outcome(None, duplicate=True)
        self.audit(
            rec,
            requester.chat_id,
            "requested",
            f"{requester.describe()}: `{rec.command}` on {rec.cluster}",
            plan_hash=rec.plan_hash,
        )
        try:
            self.engine.authorize(run)
        except BotError as exc:
            self.store.transition(rec.id, ["planned"], "denied", outcome=str(exc), finished_at=self.clock())
            self.audit(rec, "rbac", "rbac_denied", str(exc))
            return Outcome(error_report(exc, ref), run_id=rec.id, ok=False)
        if not run.needs_confirmation:
            self.store.transition(rec.id, ["planned"], "running", started_at=self.clock(), heartbeat_at=self.clock())
            return self._finish_read(rec, run, ref)
        expires = self.clock() + timedelta(minutes=self.settings.policies.confirm_expires_minutes)
        self.store.transition(rec.id, ["planned"], "awaiting_confirmation", expires_at=expires)
        self.audit(
            rec,
            requester.chat_id,
            "planned",
            "; ".join(s.plan.description for s in run.steps)[:500],
            permissions=[p.describe() for p in run.permissions],
        )
        return Outcome(self.report_for(rec.id), run_id=rec.id, pending=True)

    def _policy_doc(self, rule: ApprovalRule, requester: Requester) -> dict[str, object]:
        bg = self.settings.policies.break_glass
        allowed = bool(set(requester.kube_groups) & set(bg.groups))
        return {**rule.model_dump(mode="json"), "break_glass_allowed": allowed}

    def _finish_read(self, rec: RunRecord, run: PreparedRun, ref: str) -> Outcome:
        try:
            report = self.engine.execute(run)
        except BotError as exc:
            self.store.transition(rec.id, ["running"], "failed", outcome=str(exc), finished_at=self.clock())
            return Outcome(error_report(exc, ref), run_id=rec.id, ok=False)
        except Exception as exc:
            log.exception("internal error", extra={"ref": ref, "run_id": rec.id})
            self.store.transition(
                rec.id, ["running"], "failed", outcome=f"internal error (ref {ref})", finished_at=self.clock()
            )
            return Outcome(error_report(exc, ref), run_id=rec.id, ok=False)
        self.store.transition(
            rec.id, ["running"], "succeeded", outcome=report.summary or report.title, finished_at=self.clock()
        )
        return Outcome(report, run_id=rec.id)

    # -- decisions ------------------------------------------------------------------------------
    def _check_click(self, rec: RunRecord, plan_hash: str, states: tuple[str, ...]) -> str | None:
        """Why a click cannot count (stale, replayed, expired), or None."""
        if rec.state not in states:
            return f"this request is already {rec.state.replace('_', ' ')} — the button does nothing now"
        if plan_hash != rec.plan_hash:
            return "this button belongs to an older plan — it does nothing; use the current message"
        if rec.expires_at is not None and self.clock() >= rec.expires_at:
            if self.store.transition(
                rec.id,
                states,
                "expired",
                finished_at=self.clock(),
                outcome=f"expired at {rec.expires_at:%H:%M} UTC without a decision",
            ):
                self.audit(rec, "bot", "expired", f"expired at {rec.expires_at:%H:%M} UTC")
            return f"this request expired at {rec.expires_at:%H:%M} UTC; run the command again"
        return None

    def confirm(self, run_id: str, plan_hash: str, actor: Requester) -> Decision:
        """The requester confirms the plan: it runs, or waits for approval."""
        rec = self._get(run_id)
        if actor.chat_id != rec.requester_chat_id:
            return Decision(notice=f"only {rec.requester_name}, who asked, can confirm this plan")
        stale = self._check_click(rec, plan_hash, ("awaiting_confirmation",))
        if stale:
            return Decision(notice=stale, report=self.report_for(run_id), run_id=run_id)
        if rec.approvals_required > 0:
            expires = self.clock() + timedelta(minutes=int(rec.policy.get("expires_minutes", 15)))
            if not self.store.transition(run_id, ["awaiting_confirmation"], "awaiting_approval", expires_at=expires):
                return Decision(notice="this plan was already confirmed")
            self.audit(rec, actor.chat_id, "confirmed", "confirmed by the requester")
            self.audit(
                rec,
                "bot",
                "approval_requested",
                f"needs {rec.approvals_required} approval(s)",
                approvers=rec.policy.get("approvers"),
            )
            return Decision(report=self.report_for(run_id), run_id=run_id)
        now = self.clock()
        if not self.store.transition(run_id, ["awaiting_confirmation"], "running", started_at=now, heartbeat_at=now):
            return Decision(notice="this plan was already confirmed")
        self.audit(rec, actor.chat_id, "confirmed", "confirmed by the requester; running")
        return Decision(report=self.report_for(run_id), execute=True, run_id=run_id)

    def approve(self, run_id: str, plan_hash: str, actor: Requester) -> Decision:
        """An approver approves; the run executes once the required number of distinct approvals is in."""
        rec = self._get(run_id)
        stale = self._check_click(rec, plan_hash, ("awaiting_approval",))
        if stale:
            return Decision(notice=stale, report=self.report_for(run_id), run_id=run_id)
        refusal = self._approver_refusal(rec, actor)
        if refusal:
            self.audit(rec, actor.chat_id, "approval_refused", refusal)
            return Decision(notice=refusal)
        added = self.store.add_approval(self._decision(rec, actor, "approve"))
        if not added:
            return Decision(notice="you have already decided on this request")
        self.audit(rec, actor.chat_id, "approved", f"approved by {actor.describe()}")
        approved = [a for a in self.store.approvals(run_id) if a.decision == "approve" and a.plan_hash == rec.plan_hash]
        if len(approved) < rec.approvals_required:
            return Decision(
                report=self.report_for(run_id),
                run_id=run_id,
                notice=f"approved ({len(approved)} of {rec.approvals_required})",
            )
        now = self.clock()
        if not self.store.transition(run_id, ["awaiting_approval"], "running", started_at=now, heartbeat_at=now):
            return Decision(notice="approved; the run was already started")
        return Decision(report=self.report_for(run_id), execute=True, run_id=run_id)

    @staticmethod
    def _approver_set(rec: RunRecord) -> ApproverSet:
        rule = ApprovalRule.model_validate({k: v for k, v in rec.policy.items() if k != "break_glass_allowed"})
        return rule.approvers

    def _membership_refusal(self, rec: RunRecord, actor: Requester) -> str | None:
        """Why ``actor`` may not decide on ``rec`` as an approver (self-approval, outside the set), or None."""
        if actor.chat_id == rec.requester_chat_id:
            return "you cannot approve your own request (two-person rule)"
        aset = self._approver_set(rec)
        if not aset.anyone and not _in_set(aset, actor):
            who = ", ".join(aset.users + [f"group {g}" for g in aset.groups])
            return f"you are not an approver for this request (approvers: {who})"
        if actor.kube_user is None:
            return "approvers must be mapped Kubernetes users"
        return None

    def _approver_refusal(self, rec: RunRecord, actor: Requester) -> str | None:
        """Membership, then the cluster's RBAC: an approver must hold every permission of the plan."""
        refusal = self._membership_refusal(rec, actor)
        if refusal:
            return refusal
        perms = [Permission.model_validate(p) for p in rec.plan.get("permissions_json", [])]
        try:
            missing = self.engine.allowed(rec.cluster, actor, perms)
        except BotError as exc:
            return f"cannot check your permissions on {rec.cluster}: {exc}"
        if missing:
            return f"you may not approve what you could not do yourself: {actor.kube_user} may not " + " and ".join(
                p.describe() for p in missing
            )
        return None

    def _decision(self, rec: RunRecord, actor: Requester, decision: str, reason: str | None = None) -> ApprovalRecord:
        return ApprovalRecord(
            run_id=rec.id,
            approver_chat_id=actor.chat_id,
            approver_name=actor.display_name,
            kube_user=actor.kube_user,
            decision=decision,
            plan_hash=rec.plan_hash,
            reason=reason,
            at=self.clock(),
        )

    def deny(self, run_id: str, plan_hash: str, actor: Requester, reason: str) -> Decision:
        """An approver denies (with a reason); the requester's own deny is a cancel."""
        rec = self._get(run_id)
        if actor.chat_id == rec.requester_chat_id:
            return self.cancel(run_id, plan_hash, actor, reason)
        stale = self._check_click(rec, plan_hash, ("awaiting_approval",))
        if stale:
            return Decision(notice=stale)
        refusal = self._membership_refusal(rec, actor)
        if refusal:
            return Decision(notice=refusal)
        self.store.add_approval(self._decision(rec, actor, "deny", reason))
        if not self.store.transition(
            run_id,
            ["awaiting_approval"],
            "denied",
            finished_at=self.clock(),
            outcome=f"denied by {actor.display_name}: {reason}",
        ):
            return Decision(notice="this request was already decided")
        self.audit(rec, actor.chat_id, "denied", f"denied by {actor.describe()}: {reason}")
        return Decision(report=self.report_for(run_id), run_id=run_id)

    def cancel(self, run_id: str, plan_hash: str, actor: Requester, reason: str = "") -> Decision:
        """The requester withdraws the request."""
        rec = self._get(run_id)
        if actor.chat_id != rec.requester_chat_id:
            return Decision(notice=f"only {rec.requester_name}, who asked, can cancel; approvers can deny")
        stale = self._check_click(rec, plan_hash, OPEN_STATES)
        if stale:
            return Decision(notice=stale)
        why = reason.strip() or "no reason given"
        if not self.store.transition(
            run_id,
            OPEN_STATES,
            "cancelled",
            finished_at=self.clock(),
            outcome=f"cancelled by {actor.display_name}: {why}",
        ):
            return Decision(notice="this request was already decided")
        self.audit(rec, actor.chat_id, "cancelled", f"cancelled by the requester: {why}")
        return Decision(report=self.report_for(run_id), run_id=run_id)

    def break_glass(self, run_id: str, plan_hash: str, actor: Requester, reason: str) -> Decision:
        """A member of a break-glass group runs without a second person, with a typed reason."""
        rec = self._get(run_id)
        bg = self.settings.policies.break_glass
        if actor.chat_id != rec.requester_chat_id:
            return Decision(notice="only the requester can break glass on their own request")
        if not set(actor.kube_groups) & set(bg.groups):
            return Decision(notice="you are not in a break-glass group")
        if len(reason.strip()) < bg.min_reason_length:
            return Decision(notice=f"break-glass needs a reason of at least {bg.min_reason_length} characters")
        stale = self._check_click(rec, plan_hash, ("awaiting_approval",))
        if stale:
            return Decision(notice=stale)
        now = self.clock()
        if not self.store.transition(
            run_id,
            ["awaiting_approval"],
            "running",
            started_at=now,
            heartbeat_at=now,
            break_glass_reason=reason.strip(),
        ):
            return Decision(notice="this request was already decided")
        self.audit(
            rec,
            actor.chat_id,
            "break_glass",
            f"BREAK-GLASS: {actor.describe()} runs `{rec.command}` on {rec.cluster} without approval: {reason}",
        )
        return Decision(report=self.report_for(run_id), execute=True, run_id=run_id)

    def abort(self, run_id: str, plan_hash: str, actor: Requester) -> Decision:
        """Stop a running run: no further actions; what was done is reported. Any replica may take the click."""
        rec = self._get(run_id)
        if rec.state != "running":
            return Decision(notice=f"this run is {rec.state.replace('_', ' ')}; there is nothing to abort")
        if plan_hash != rec.plan_hash:
            return Decision(notice="this button belongs to an older plan — it does nothing")
        approvers = {a.approver_chat_id for a in self.store.approvals(run_id) if a.decision == "approve"}
        aset = self._approver_set(rec)
        in_set = not aset.anyone and _in_set(aset, actor)
        if actor.chat_id != rec.requester_chat_id and actor.chat_id not in approvers and not in_set:
            return Decision(notice="only the requester or an approver can abort this run")
        if not self.store.transition(run_id, ["running"], "aborting"):
            return Decision(notice="this run is already stopping")
        self.audit(rec, actor.chat_id, "abort_requested", f"abort requested by {actor.describe()}")
        return Decision(notice="abort requested: no further actions will be started", run_id=run_id)

    def _watch_abort(self, run_id: str, flag: threading.Event, done: threading.Event) -> None:
        """Poll the store for an abort request (made on any replica) and raise the step's abort flag."""
        while not done.wait(0.3):
            rec = self.store.get_run(run_id)
            if rec is not None and rec.state == "aborting":
                flag.set()
                return

    # -- execution ------------------------------------------------------------------------------
    def execute(self, run_id: str, progress: Callable[[str], None] | None = None) -> Report:
        """Run a run that a decision moved to ``running``: re-plan, compare, re-authorize, execute."""
        rec = self._get(run_id)
        if rec.state != "running":
            return self.report_for(run_id)
        requester = self._requester_of(rec)
        approvers = [a.kube_user or a.approver_chat_id for a in self.store.approvals(run_id) if a.decision == "approve"]
        started = time.monotonic()
        done: list[str] = []
        try:
            run = self.engine.prepare(rec.command, requester, rec.channel, progress, run_id=run_id, approvers=approvers)
            if run.plan_hash != rec.plan_hash:
                msg = (
                    "the cluster changed since this plan was confirmed; nothing was done. "
                    "Run the command again to see the new plan."
                )
                self.store.transition(run_id, ["running"], "replan_required", finished_at=self.clock(), outcome=msg)
                self.audit(rec, "bot", "replan_required", msg, new_plan_hash=run.plan_hash)
                new = [s.plan.description for s in run.steps] + [w for s in run.steps for w in s.plan.warnings]
                return self.report_for(run_id, extra=["Now it would: " + "; ".join(new)])
            self.engine.authorize(run)
            last: Report | None = None
            finished = threading.Event()
            threading.Thread(
                target=self._watch_abort,
                args=(run_id, run.context.abort, finished),
                daemon=True,
                name=f"abort-{run_id}",
            ).start()
            try:
                for i, ps in enumerate(run.steps, 1):
                    if run.context.abort.is_set():
                        raise AbortedError(f"aborted before step {i}: {ps.plan.description}")
                    self.store.update_run(run_id, heartbeat_at=self.clock())
                    self.audit(rec, "bot", "step_started", f"step {i}/{len(run.steps)}: {ps.plan.description}")
                    with kube_errors(run.cluster):
                        out = ps.step.run(run.context, ps.params)
                    last = out or last
                    done.append(ps.plan.description)
                    self.audit(rec, "bot", "step_finished", f"step {i}/{len(run.steps)} done: {ps.plan.description}")
            finally:
                finished.set()
        except AbortedError as exc:
            outcome = f"aborted: {exc}. Done: {'; '.join(done) or 'nothing'}."
            self.store.transition(run_id, ["running", "aborting"], "aborted", finished_at=self.clock(), outcome=outcome)
            self.audit(rec, "bot", "aborted", outcome)
            return self.report_for(run_id)
        except BotError as exc:
            not_done = [s for s in (rec.plan.get("step_lines") or []) if s not in done]
            outcome = f"failed: {exc}. Done: {'; '.join(done) or 'nothing'}."
            if not_done:
                outcome += f" Not done: {'; '.join(not_done)}."
            self.store.transition(run_id, ["running", "aborting"], "failed", finished_at=self.clock(), outcome=outcome)
            self.audit(rec, "bot", "failed", outcome)
            return self.report_for(run_id)
        except Exception:
            ref = new_ref()
            log.exception("internal error during execution", extra={"ref": ref, "run_id": run_id})
            outcome = f"failed with an internal error (ref {ref}). Done: {'; '.join(done) or 'nothing'}."
            self.store.transition(run_id, ["running", "aborting"], "failed", finished_at=self.clock(), outcome=outcome)
            self.audit(rec, "bot", "failed", outcome)
            return self.report_for(run_id)
        outcome = (last.title if last else "done") + f" ({time.monotonic() - started:.1f}s)"
        self.store.transition(run_id, ["running", "aborting"], "succeeded", finished_at=self.clock(), outcome=outcome)
        self.audit(rec, "bot", "succeeded", outcome)
        report = self.report_for(run_id)
        report.tone = Tone.OK
        return report

    def recover(self) -> list[str]:
        """After a restart: runs left ``running`` without a heartbeat are marked interrupted."""
        cutoff = self.clock() - timedelta(seconds=self.settings.policies.interrupted_after_seconds)
        ids = []
        for rec in self.store.runs_in_states(["running", "aborting"], heartbeat_before=cutoff):
            steps = [
                e.summary
                for e in reversed(self.store.audit_events(run_id=rec.id, limit=200))
                if e.kind == "step_finished"
            ]
            outcome = (
                "interrupted: the bot stopped during this run. Completed: "
                + ("; ".join(steps) or "no step")
                + ". Check the cluster state before retrying."
            )
            if self.store.transition(
                rec.id, ["running", "aborting"], "interrupted", finished_at=self.clock(), outcome=outcome
            ):
                self.audit(rec, "bot", "interrupted", outcome)
                ids.append(rec.id)
        return ids


def _in_set(aset: ApproverSet, actor: Requester) -> bool:
    """Is ``actor`` named in the approver set (Slack ID, Kubernetes user, or one of its groups)?"""
    return (
        actor.chat_id in aset.users
        or (actor.kube_user or "") in aset.users
        or bool(set(actor.kube_groups) & set(aset.groups))
    )


def _plan_doc(plan: Report, run: PreparedRun) -> dict[str, object]:
    """The stored plan: the report users saw, plus the permissions approvers are checked for."""
    return {
        **report_to_dict(plan),
        "permissions_json": [p.model_dump(mode="json") for p in run.permissions],
        "step_lines": [s.plan.description for s in run.steps],
    }


__all__ = ["Decision", "IdentityMapper", "Outcome", "RunService"]
