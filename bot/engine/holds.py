"""Pause and Resume of a running run whose step honours them (a canary progression).

A hold is a stored artifact of the run (``RunHold``), not a run state: the run stays ``running``
(its owner keeps heart-beating it, Abort still works), and the step reads the hold between its
actions. Any replica may take the click; the requester or an approver may pause and resume, like
abort. The run message shows Pause or Resume accordingly.
"""

from __future__ import annotations

from bot.engine.approvals import may_abort
from bot.engine.ledger import RunLedger
from bot.model import Requester
from bot.steps.artifacts import RunArtifacts, RunHold
from bot.store import RunState, Store


def hold_of(store: Store, run_id: str) -> RunHold | None:
    """The run's hold as last clicked (None: never paused)."""
    return RunArtifacts(run_id, store).get(RunHold)


def set_hold(ledger: RunLedger, run_id: str, plan_hash: str, actor: Requester, *, paused: bool) -> tuple[str, bool]:
    """Pause (``paused``) or resume a running run; (what to tell the clicker, whether anything changed)."""
    rec = ledger.get(run_id)
    verb = "pause" if paused else "resume"
    if rec.state != RunState.RUNNING:
        return f"this run is {RunState(rec.state).words}; there is nothing to {verb}", False
    if plan_hash != rec.plan_hash:
        return "this button belongs to an older plan — it does nothing", False
    if not rec.plan.get("pausable"):
        return f"this run cannot {verb}: only a run whose step waits between actions (a canary progression) can", False
    if not may_abort(rec, ledger.store.approvals(run_id), actor):
        return "only the requester or an approver can pause or resume this run", False
    current = hold_of(ledger.store, run_id)
    if bool(current and current.paused) == paused:
        return ("this run is already paused" if paused else "this run is not paused"), False
    RunArtifacts(run_id, ledger.store).put(RunHold(paused=paused, by=actor.display_name, at=ledger.clock()))
    kind = "paused" if paused else "resumed"
    ledger.audit(rec, actor.chat_id, kind, f"{kind} by {actor.describe()}")
    if paused:
        return "paused: the current weights hold and no stage advances until Resume (Abort still works)", True
    return "resumed: the progression carries on", True
