"""What waits for one person: the approvals they may give, their own runs, what ended lately.

Surface-neutral (Slack's App Home renders it). The approval rules are ``approvals.py``'s, not
repeated here: a run awaiting approval is offered to a person only when ``approver_refusal``
finds nothing — in the run's approver set, not the requester by Kubernetes identity, and holding
every permission of the plan (SubjectAccessReview, asked per run). People in the approver set who
lack the permissions see the run without a way to approve it, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.engine.approvals import (
    Authorizer,
    approver_refusal,
    approving_users,
    decided_elsewhere,
    membership_refusal,
    same_person,
)
from bot.model import Requester
from bot.store import ACTIVE, AWAITING, FINAL, RunRecord, RunState, Store

#: At most this many runs awaiting approval are checked (one SubjectAccessReview set each) per look.
MAX_PENDING_CHECKED = 15
#: Finished runs looked at for "recently finished" (the newest of the last day).
RECENT_SCANNED = 30
RECENT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class PendingApproval:
    """A run awaiting approval as one person sees it: ``refusal`` None means they may approve it now."""

    run: RunRecord
    approved: int
    refusal: str | None = None


@dataclass
class Inbox:
    """One person's queue: approvals they may give, ones they may not (and why), their runs, recent ends."""

    pending: list[PendingApproval] = field(default_factory=list)
    blocked: list[PendingApproval] = field(default_factory=list)
    mine: list[RunRecord] = field(default_factory=list)
    recent: list[RunRecord] = field(default_factory=list)
    not_checked: int = 0  # runs awaiting approval beyond MAX_PENDING_CHECKED

    @property
    def run_ids(self) -> set[str]:
        """Every run shown (a change to any of them changes the view)."""
        listed = [p.run for p in self.pending + self.blocked] + self.mine + self.recent
        return {r.id for r in listed}


class RunInbox:
    """Builds a person's ``Inbox`` from the store, with the cluster's RBAC for approver eligibility."""

    def __init__(self, store: Store, authorizer: Authorizer, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.authorizer = authorizer
        self.clock = clock

    def for_actor(self, actor: Requester, *, recent_limit: int = 5) -> Inbox:
        """Everything waiting for ``actor`` now (runs past their expiry are left out)."""
        now = self.clock()
        inbox = Inbox()
        waiting = [r for r in self.store.runs_in_states([*AWAITING, *ACTIVE]) if not _expired(r, now)]
        inbox.mine = [r for r in waiting if same_person(r, actor)]
        candidates = [
            r for r in waiting if r.state == RunState.AWAITING_APPROVAL and membership_refusal(r, actor) is None
        ]
        inbox.not_checked = max(0, len(candidates) - MAX_PENDING_CHECKED)
        for rec in candidates[:MAX_PENDING_CHECKED]:
            item = self._pending(rec, actor)
            (inbox.pending if item.refusal is None else inbox.blocked).append(item)
        inbox.recent = self._recent(actor, now, recent_limit)
        return inbox

    def concerns(self, rec: RunRecord, actor: Requester) -> bool:
        """Could ``rec`` show on ``actor``'s Home: theirs, or they are in its approver set (no cluster call)."""
        if same_person(rec, actor):
            return True
        return bool(rec.policy) and membership_refusal(rec, actor) is None

    def _pending(self, rec: RunRecord, actor: Requester) -> PendingApproval:
        decisions = self.store.approvals(rec.id)
        approved = len(approving_users(decisions, rec.plan_hash))
        mine = [d for d in decisions if d.approver_chat_id == actor.chat_id]
        if mine or decided_elsewhere(decisions, actor):
            left = rec.approvals_required - approved
            return PendingApproval(rec, approved, f"you approved it; waiting for {left} more approval(s)")
        return PendingApproval(rec, approved, approver_refusal(rec, actor, self.authorizer))

    def _recent(self, actor: Requester, now: datetime, limit: int) -> list[RunRecord]:
        """The newest finished changes of the last day that ``actor`` asked for or decided on."""
        found: list[RunRecord] = []
        for rec in self.store.recent_runs(limit=RECENT_SCANNED, since=now - RECENT_WINDOW):
            if rec.state not in FINAL or rec.risk == "read" or len(found) >= limit:
                continue
            if same_person(rec, actor) or any(
                d.approver_chat_id == actor.chat_id for d in self.store.approvals(rec.id)
            ):
                found.append(rec)
        return found


def _expired(rec: RunRecord, now: datetime) -> bool:
    return rec.state in AWAITING and rec.expires_at is not None and now >= rec.expires_at
