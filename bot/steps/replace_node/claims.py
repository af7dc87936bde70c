"""One replacement at a time per group: a run claims its node group in the store before acting.

The claim is a row keyed by the group (``group_claims``); a run in progress holds it, and a
claim whose run has ended (or was marked interrupted) is free for the next run. The plan refuses
a group another run holds; the run takes the claim for itself right before acting.
"""

from __future__ import annotations

from bot.errors import PermanentError, UserError
from bot.steps.base import StepContext
from bot.store import GroupClaim, Store

#: A claim counts while its run is in one of these states.
ACTIVE_STATES = ("running", "aborting")
CLAIM_AUDIT_KIND = "replacement_claim"


def _store(ctx: StepContext) -> Store:
    if ctx.store is None:
        raise PermanentError("replace-node needs the run store (one replacement at a time per group)")
    return ctx.store


def _busy(ctx: StepContext, group_words: str, held: GroupClaim) -> str:
    holder = _store(ctx).get_run(held.run_id)
    who = f"run {held.run_id}" + (f" by {holder.requester_name}, {holder.state}" if holder else "")
    return (
        f"another replacement is in progress in {group_words}: node {held.node} ({who}); one node at a time per group"
    )


def refuse_if_claimed(ctx: StepContext, key: str, group_words: str) -> None:
    """Planning: a UserError when another active run holds the group ``key``."""
    held = _store(ctx).group_claim_holder(key, ACTIVE_STATES, other_than=ctx.run_id)
    if held is not None:
        raise UserError(_busy(ctx, group_words, held))


def take_claim(ctx: StepContext, key: str, node: str, group_words: str) -> None:
    """Running: claim the group for this run (audited); a PermanentError when another active run holds it."""
    store = _store(ctx)
    before = store.group_claim_holder(key, ACTIVE_STATES)
    held = store.claim_group(GroupClaim(key=key, run_id=ctx.run_id, node=node, group_name=group_words), ACTIVE_STATES)
    if held is not None:
        raise PermanentError(_busy(ctx, group_words, held) + "; nothing was done by this run")
    if before is not None and before.run_id == ctx.run_id:
        return  # already ours (claimed by an earlier step of this run)
    store.add_audit(
        ctx.run_id,
        "bot",
        CLAIM_AUDIT_KIND,
        f"claimed {group_words} to replace node {node}",
        {"key": key, "node": node, "group": group_words},
    )
