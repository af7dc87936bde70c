"""What a run has done and what it has not: the account every outcome but success reports.

Finished steps come from the audit trail (``step_finished``); the step that was executing tells
its own account (``StepAccount``, kept current while it runs — e.g. the pods evicted so far and
those still on the node); the steps after it were not started. The executing process uses this
when a run fails or is aborted, and another replica uses the same when it finds the run's owner
dead — so the message says the same thing either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.steps.artifacts import RunArtifacts
from bot.steps.base import StepAccount, step_key
from bot.store import RunRecord, Store

LISTED = 10


@dataclass
class RunAccount:
    """Lines of what was done and what was not, in order."""

    done: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)

    def text(self) -> str:
        """``Done: a; b. Not done: c.`` (clipped with "… and N more")."""
        out = f"Done: {_clip(self.done) or 'nothing'}."
        if self.not_done:
            out += f" Not done: {_clip(self.not_done)}."
        return out


def _clip(lines: list[str]) -> str:
    shown = "; ".join(lines[:LISTED])
    return shown + (f"; … and {len(lines) - LISTED} more" if len(lines) > LISTED else "")


def step_progress(store: Store, run_id: str) -> tuple[set[int], int | None]:
    """The steps of a run that finished, and the one started last (from the audit trail's step events)."""
    finished: set[int] = set()
    current: int | None = None
    for event in reversed(store.audit_events(run_id=run_id, limit=1000)):
        index = event.detail.get("step")
        if not isinstance(index, int):
            continue
        if event.kind == "step_finished":
            finished.add(index)
        elif event.kind == "step_started":
            current = index
    return finished, current


def resume_step(store: Store, rec: RunRecord) -> int | None:
    """The step a run whose owner died would resume at, if that step declared it can (else None: interrupt it).

    That is the step it was executing, or — between two steps — the next one; its plan said
    ``resumable`` (the request stored the indices as ``plan["resumable_steps"]``).
    """
    resumable = rec.plan.get("resumable_steps") or []
    if not resumable:
        return None
    finished, current = step_progress(store, rec.id)
    total = len(rec.plan.get("step_lines") or [])
    if current is None or current in finished:
        current = next((i for i in range(1, total + 1) if i not in finished), None)
    return current if current in resumable else None


def account_of(store: Store, rec: RunRecord) -> RunAccount:
    """The account of ``rec`` from what its executor stored: finished steps, the current step's own account."""
    lines: list[str] = list(rec.plan.get("step_lines") or [])
    finished, current = step_progress(store, rec.id)
    account = RunAccount()
    own = RunArtifacts(rec.id, store).get(StepAccount, step_key(current)) if current is not None else None
    for index, line in enumerate(lines, 1):
        if index in finished:
            account.done.append(line)
        elif index == current and own is not None:
            account.done += own.done
            account.not_done += own.not_done or [line]
        else:
            account.not_done.append(line)
    return account
