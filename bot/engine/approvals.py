"""The two-person rule: who may approve (or deny, or abort) a run, decided on Kubernetes identities.

Slack accounts are not people: two accounts mapped to one Kubernetes user are one person. So the
requester's own Kubernetes user can never approve (under any Slack ID), distinct approvals are
counted by Kubernetes user, and an approver must hold every permission of the plan themselves —
asked of the cluster with SubjectAccessReview through an ``Authorizer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.config.settings import ApprovalRule, ApproverSet
from bot.errors import BotError
from bot.model import Permission, Requester
from bot.store import ApprovalRecord, RunRecord


class Authorizer(Protocol):
    """Answers which permissions a requester lacks on a cluster (the engine asks SubjectAccessReview)."""

    def missing_permissions(
        self, cluster: str, requester: Requester, permissions: Sequence[Permission]
    ) -> list[Permission]:
        """The permissions from ``permissions`` that ``requester`` lacks on ``cluster``."""
        ...


def approver_set(rec: RunRecord) -> ApproverSet:
    """The approvers the run's stored policy names."""
    rule = ApprovalRule.model_validate({k: v for k, v in rec.policy.items() if k != "break_glass_allowed"})
    return rule.approvers


def in_set(aset: ApproverSet, actor: Requester) -> bool:
    """Is ``actor`` named in the approver set (Slack ID, Kubernetes user, or one of its groups)?"""
    return (
        actor.chat_id in aset.users
        or (actor.kube_user or "") in aset.users
        or bool(set(actor.kube_groups) & set(aset.groups))
    )


def same_person(rec: RunRecord, actor: Requester) -> bool:
    """Is ``actor`` the requester: the same Slack account, or another one acting as the same Kubernetes user?"""
    return actor.chat_id == rec.requester_chat_id or (actor.kube_user is not None and actor.kube_user == rec.kube_user)


def membership_refusal(rec: RunRecord, actor: Requester) -> str | None:
    """Why ``actor`` may not decide on ``rec`` as an approver (themselves, outside the set), or None."""
    if actor.chat_id == rec.requester_chat_id:
        return "you cannot approve your own request (two-person rule)"
    if same_person(rec, actor):
        return (
            f"you cannot approve this request: your Slack account acts as {actor.kube_user}, the Kubernetes user "
            "who asked (two-person rule)"
        )
    aset = approver_set(rec)
    if not aset.anyone and not in_set(aset, actor):
        who = ", ".join(aset.users + [f"group {g}" for g in aset.groups])
        return f"you are not an approver for this request (approvers: {who})"
    if actor.kube_user is None:
        return "approvers must be mapped Kubernetes users"
    return None


def approver_refusal(rec: RunRecord, actor: Requester, authorizer: Authorizer) -> str | None:
    """Membership, then the cluster's RBAC: an approver must hold every permission of the plan."""
    refusal = membership_refusal(rec, actor)
    if refusal:
        return refusal
    perms = [Permission.model_validate(p) for p in rec.plan.get("permissions_json", [])]
    try:
        missing = authorizer.missing_permissions(rec.cluster, actor, perms)
    except BotError as exc:
        return f"cannot check your permissions on {rec.cluster}: {exc}"
    if missing:
        listed = " and ".join(p.describe() for p in missing)
        return f"you may not approve what you could not do yourself: {actor.kube_user} may not {listed}"
    return None


def decided_elsewhere(decisions: list[ApprovalRecord], actor: Requester) -> bool:
    """Did ``actor``'s Kubernetes user already decide on this run from another Slack account?"""
    mine = [d for d in decisions if actor.kube_user is not None and d.kube_user == actor.kube_user]
    return bool(mine) and all(d.approver_chat_id != actor.chat_id for d in mine)


def approving_users(decisions: list[ApprovalRecord], plan_hash: str) -> set[str]:
    """The distinct Kubernetes users who approved ``plan_hash`` (two Slack accounts of one person count once)."""
    approved = [a for a in decisions if a.decision == "approve" and a.plan_hash == plan_hash]
    return {a.kube_user or a.approver_chat_id for a in approved}


def may_abort(rec: RunRecord, decisions: list[ApprovalRecord], actor: Requester) -> bool:
    """The requester (any of their accounts), an approver of this run, or anyone in its approver set."""
    approvers = {d.approver_chat_id for d in decisions if d.decision == "approve"}
    approver_users = {d.kube_user for d in decisions if d.decision == "approve" and d.kube_user}
    aset = approver_set(rec)
    return (
        same_person(rec, actor)
        or actor.chat_id in approvers
        or (actor.kube_user is not None and actor.kube_user in approver_users)
        or (not aset.anyone and in_set(aset, actor))
    )
