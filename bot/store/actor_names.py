"""Names people read for the actors of audit events, which store Slack user IDs.

An audit event keeps the actor's chat ID (stable, exact); the run keeps its requester's display
name and each approval its approver's, as they were when they acted. Rendering the audit trail
uses those names, so a reader sees "Alice Doe", not "U0ALICE".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from bot.store.records import ApprovalRecord, RunRecord


class _RunsAndApprovals(Protocol):
    def get_run(self, run_id: str) -> RunRecord | None: ...

    def approvals(self, run_id: str) -> list[ApprovalRecord]: ...


def actor_names(store: _RunsAndApprovals, run_ids: Iterable[str | None]) -> dict[str, str]:
    """Chat ID → display name of every requester and approver of the runs ``run_ids``."""
    names: dict[str, str] = {}
    for run_id in dict.fromkeys(r for r in run_ids if r):
        rec = store.get_run(run_id)
        if rec is None:
            continue
        names.setdefault(rec.requester_chat_id, rec.requester_name)
        for approval in store.approvals(rec.id):
            names.setdefault(approval.approver_chat_id, approval.approver_name)
    return {k: v for k, v in names.items() if v and v != k}


def actor_label(names: dict[str, str], actor: str) -> str:
    """``Alice Doe`` for a known chat ID, else the actor as stored (``bot``, ``rbac``, an ID)."""
    return names.get(actor, actor)
