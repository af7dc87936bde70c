"""Decisions on a run: confirm, approve, deny, cancel, break glass, abort, pause and resume.

Every decision is one compare-and-set: a double click, a replayed button or two replicas racing
move a run once, and the losers are told why. Buttons carry the plan hash: a click on a button of
an older plan does nothing but say so. A decision that starts the run moves it to ``queued``,
owned by this process, and says so (``Decision.execute``); the caller hands it to the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta

from bot.durations import clock_time
from bot.engine.approvals import (
    Authorizer,
    approver_refusal,
    approving_users,
    decided_elsewhere,
    may_abort,
    membership_refusal,
)
from bot.engine.holds import set_hold
from bot.engine.ledger import RunLedger
from bot.model import Requester
from bot.report import Report
from bot.store import AWAITING, ApprovalRecord, RunRecord, RunState

#: Asked before a run is queued: None, or why the executor cannot take it now.
Admission = Callable[[RunRecord], str | None]


@dataclass
class Decision:
    """The answer to a click: a notice for the clicker only, the run message's new content, and
    whether the caller must now hand the run to the executor (``execute``)."""

    notice: str | None = None
    report: Report | None = None
    execute: bool = False
    run_id: str | None = None
    extras: list[str] = field(default_factory=list)


class RunDecisions:
    """What requesters and approvers decide, for every surface."""

    def __init__(self, ledger: RunLedger, authorizer: Authorizer, owner_id: str, admit: Admission) -> None:
        self.ledger = ledger
        self.authorizer = authorizer
        self.owner_id = owner_id
        self.admit = admit

    def decide(self, kind: str, run_id: str, plan_hash: str, actor: Requester, reason: str = "") -> Decision:
        """Dispatch a decision by name (a button or a shell verb); ValueError for an unknown kind."""
        handlers: dict[str, Callable[[], Decision]] = {
            "confirm": lambda: self.confirm(run_id, plan_hash, actor),
            "approve": lambda: self.approve(run_id, plan_hash, actor),
            "deny": lambda: self.deny(run_id, plan_hash, actor, reason),
            "cancel": lambda: self.cancel(run_id, plan_hash, actor, reason),
            "abort": lambda: self.abort(run_id, plan_hash, actor),
            "break_glass": lambda: self.break_glass(run_id, plan_hash, actor, reason),
            "pause": lambda: self.hold(run_id, plan_hash, actor, paused=True),
            "resume": lambda: self.hold(run_id, plan_hash, actor, paused=False),
        }
        handler = handlers.get(kind)
        if handler is None:
            raise ValueError(f"unknown decision {kind!r}")
        return handler()

    # -- helpers ----------------------------------------------------------------------------------
    def _stale(self, rec: RunRecord, plan_hash: str, states: Collection[RunState]) -> str | None:
        """Why a click cannot count (stale, replayed, expired), or None."""
        if rec.state not in states:
            return f"this request is already {RunState(rec.state).words} — the button does nothing now"
        if plan_hash != rec.plan_hash:
            return "this button belongs to an older plan — it does nothing; use the current message"
        if rec.expires_at is not None and self.ledger.clock() >= rec.expires_at:
            expired = f"expired at {clock_time(rec.expires_at, self.ledger.clock())}"
            if self.ledger.move(
                rec,
                states,
                RunState.EXPIRED,
                expected=False,
                finished_at=self.ledger.clock(),
                outcome=f"{expired} without a decision",
            ):
                self.ledger.audit(rec, "bot", "expired", expired)
            return f"this request {expired}; run the command again"
        return None

    def _queue(self, rec: RunRecord, from_state: RunState, **fields: object) -> Decision | None:
        """Move the run to ``queued`` for this process's executor; a Decision when that cannot be done."""
        full = self.admit(rec)
        if full is not None:
            return Decision(notice=full)
        now = self.ledger.clock()
        if not self.ledger.move(
            rec, [from_state], RunState.QUEUED, expected=False, owner_id=self.owner_id, heartbeat_at=now, **fields
        ):
            return Decision(notice=f"this request was already {RunState(self._state(rec.id)).words}")
        return None

    def _state(self, run_id: str) -> str:
        return self.ledger.get(run_id).state

    def _record(self, rec: RunRecord, actor: Requester, decision: str, reason: str | None = None) -> ApprovalRecord:
        return ApprovalRecord(
            run_id=rec.id,
            approver_chat_id=actor.chat_id,
            approver_name=actor.display_name,
            kube_user=actor.kube_user,
            decision=decision,
            plan_hash=rec.plan_hash,
            reason=reason,
            at=self.ledger.clock(),
        )

    # -- the decisions ----------------------------------------------------------------------------
    def confirm(self, run_id: str, plan_hash: str, actor: Requester) -> Decision:
        """The requester confirms the plan: it runs, or waits for approval."""
        rec = self.ledger.get(run_id)
        if actor.chat_id != rec.requester_chat_id:
            return Decision(notice=f"only {rec.requester_name}, who asked, can confirm this plan")
        stale = self._stale(rec, plan_hash, [RunState.AWAITING_CONFIRMATION])
        if stale:
            return Decision(notice=stale, report=self.ledger.report(run_id), run_id=run_id)
        if rec.approvals_required > 0:
            expires = self.ledger.clock() + timedelta(minutes=int(rec.policy.get("expires_minutes", 15)))
            if not self.ledger.move(
                rec, [RunState.AWAITING_CONFIRMATION], RunState.AWAITING_APPROVAL, expected=False, expires_at=expires
            ):
                return Decision(notice="this plan was already confirmed")
            self.ledger.audit(rec, actor.chat_id, "confirmed", "confirmed by the requester")
            needs = f"needs {rec.approvals_required} approval(s)"
            self.ledger.audit(rec, "bot", "approval_requested", needs, approvers=rec.policy.get("approvers"))
            return Decision(report=self.ledger.report(run_id), run_id=run_id)
        refused = self._queue(rec, RunState.AWAITING_CONFIRMATION)
        if refused:
            return refused
        self.ledger.audit(rec, actor.chat_id, "confirmed", "confirmed by the requester; running")
        return Decision(report=self.ledger.report(run_id), execute=True, run_id=run_id)

    def approve(self, run_id: str, plan_hash: str, actor: Requester) -> Decision:
        """An approver approves; the run starts once enough distinct people (Kubernetes users) approved."""
        rec = self.ledger.get(run_id)
        stale = self._stale(rec, plan_hash, [RunState.AWAITING_APPROVAL])
        if stale:
            return Decision(notice=stale, report=self.ledger.report(run_id), run_id=run_id)
        refusal = approver_refusal(rec, actor, self.authorizer)
        if refusal:
            self.ledger.audit(rec, actor.chat_id, "approval_refused", refusal)
            return Decision(notice=refusal)
        if decided_elsewhere(self.ledger.store.approvals(run_id), actor):
            return Decision(notice=f"{actor.kube_user} has already decided on this request from another Slack account")
        if not self.ledger.store.add_approval(self._record(rec, actor, "approve")):
            return Decision(notice="you have already decided on this request")
        self.ledger.audit(rec, actor.chat_id, "approved", f"approved by {actor.describe()}")
        approvers = approving_users(self.ledger.store.approvals(run_id), rec.plan_hash)
        if len(approvers) < rec.approvals_required:
            progress = f"approved ({len(approvers)} of {rec.approvals_required})"
            return Decision(report=self.ledger.report(run_id), run_id=run_id, notice=progress)
        refused = self._queue(rec, RunState.AWAITING_APPROVAL)
        if refused:
            return refused
        return Decision(report=self.ledger.report(run_id), execute=True, run_id=run_id)

    def deny(self, run_id: str, plan_hash: str, actor: Requester, reason: str) -> Decision:
        """An approver denies (with a reason; an earlier approval of theirs becomes this deny); the requester's
        own deny is a cancel."""
        rec = self.ledger.get(run_id)
        if actor.chat_id == rec.requester_chat_id:
            return self.cancel(run_id, plan_hash, actor, reason)
        stale = self._stale(rec, plan_hash, [RunState.AWAITING_APPROVAL])
        if stale:
            return Decision(notice=stale)
        refusal = membership_refusal(rec, actor)
        if refusal:
            return Decision(notice=refusal)
        outcome = f"denied by {actor.display_name}: {reason}"
        if not self.ledger.move(
            rec,
            [RunState.AWAITING_APPROVAL],
            RunState.DENIED,
            expected=False,
            finished_at=self.ledger.clock(),
            outcome=outcome,
        ):
            return Decision(notice="this request was already decided")
        self.ledger.store.record_denial(self._record(rec, actor, "deny", reason))
        self.ledger.audit(rec, actor.chat_id, "denied", f"denied by {actor.describe()}: {reason}")
        return Decision(report=self.ledger.report(run_id), run_id=run_id)

    def cancel(self, run_id: str, plan_hash: str, actor: Requester, reason: str = "") -> Decision:
        """The requester withdraws the request."""
        rec = self.ledger.get(run_id)
        if actor.chat_id != rec.requester_chat_id:
            return Decision(notice=f"only {rec.requester_name}, who asked, can cancel; approvers can deny")
        stale = self._stale(rec, plan_hash, AWAITING)
        if stale:
            return Decision(notice=stale)
        why = reason.strip() or "no reason given"
        outcome = f"cancelled by {actor.display_name}: {why}"
        if not self.ledger.move(
            rec, AWAITING, RunState.CANCELLED, expected=False, finished_at=self.ledger.clock(), outcome=outcome
        ):
            return Decision(notice="this request was already decided")
        self.ledger.audit(rec, actor.chat_id, "cancelled", f"cancelled by the requester: {why}")
        return Decision(report=self.ledger.report(run_id), run_id=run_id)

    def break_glass(self, run_id: str, plan_hash: str, actor: Requester, reason: str) -> Decision:
        """A member of a break-glass group runs without a second person, with a typed reason."""
        rec = self.ledger.get(run_id)
        bg = self.ledger.settings.policies.break_glass
        if actor.chat_id != rec.requester_chat_id:
            return Decision(notice="only the requester can break glass on their own request")
        if not set(actor.kube_groups) & set(bg.groups):
            return Decision(notice="you are not in a break-glass group")
        if len(reason.strip()) < bg.min_reason_length:
            return Decision(notice=f"break-glass needs a reason of at least {bg.min_reason_length} characters")
        stale = self._stale(rec, plan_hash, [RunState.AWAITING_APPROVAL])
        if stale:
            return Decision(notice=stale)
        refused = self._queue(rec, RunState.AWAITING_APPROVAL, break_glass_reason=reason.strip())
        if refused:
            return refused
        summary = f"BREAK-GLASS: {actor.describe()} runs `{rec.command}` on {rec.cluster} without approval: {reason}"
        self.ledger.audit(rec, actor.chat_id, "break_glass", summary)
        return Decision(report=self.ledger.report(run_id), execute=True, run_id=run_id)

    def abort(self, run_id: str, plan_hash: str, actor: Requester) -> Decision:
        """Stop a run: one that has not started ends at once; a running one stops starting actions.

        Any replica can take the click: the request is a state change the owner's executor sees.
        """
        rec = self.ledger.get(run_id)
        if rec.state not in (RunState.QUEUED, RunState.RUNNING):
            return Decision(notice=f"this run is {RunState(rec.state).words}; there is nothing to abort")
        if plan_hash != rec.plan_hash:
            return Decision(notice="this button belongs to an older plan — it does nothing")
        if not may_abort(rec, self.ledger.store.approvals(run_id), actor):
            return Decision(notice="only the requester or an approver can abort this run")
        if self.ledger.move(
            rec,
            [RunState.QUEUED],
            RunState.ABORTED,
            expected=False,
            finished_at=self.ledger.clock(),
            outcome="aborted before it started; nothing was done",
        ):
            self.ledger.audit(rec, actor.chat_id, "aborted", f"aborted by {actor.describe()} before it started")
            return Decision(notice="aborted before it started", report=self.ledger.report(run_id), run_id=run_id)
        if not self.ledger.move(rec, [RunState.RUNNING], RunState.ABORTING, expected=False):
            return Decision(notice="this run is already stopping")
        self.ledger.audit(rec, actor.chat_id, "abort_requested", f"abort requested by {actor.describe()}")
        return Decision(notice="abort requested: no further actions will be started", run_id=run_id)

    def hold(self, run_id: str, plan_hash: str, actor: Requester, *, paused: bool) -> Decision:
        """Pause or resume a running run whose step honours it (any replica may take the click)."""
        notice, changed = set_hold(self.ledger, run_id, plan_hash, actor, paused=paused)
        return Decision(notice=notice, report=self.ledger.report(run_id) if changed else None, run_id=run_id)
