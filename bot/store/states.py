"""The run state machine: every state a run can be in, and the one table of allowed transitions.

The store refuses a transition the table does not allow (a programming error, raised as
``ValueError``); the workflow, the executor and every renderer use these names, never strings.

    planned ──► awaiting_confirmation ──► awaiting_approval ──► queued ──► running ──► succeeded
       │  │              │    │                │    │   │          │  │      │  │  │
       │  └► running     │    └► queued        │    │   └► expired │  │      │  │  └► failed / replan_required
       └► denied         └► cancelled/expired  │    └► denied      │  │      │  └► aborting ──► aborted
                                               └► cancelled        │  │      └► interrupted (owner died / shut down)
                                                                   │  └► aborted (before it started)
                                                                   └► interrupted

A change of owner is not a transition: recovery takes a stale ``queued`` run over in place, and a
stale ``running``/``aborting`` run in place too when the step it was executing can resume from its
stored state (``RESUMABLE``; ``Store.take_running_run``) — every other stale run is ``interrupted``.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum


class RunState(StrEnum):
    """Where a run is in its lifecycle (stored as its string value)."""

    PLANNED = "planned"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    RUNNING = "running"
    ABORTING = "aborting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    INTERRUPTED = "interrupted"
    REPLAN_REQUIRED = "replan_required"

    @property
    def words(self) -> str:
        """``awaiting approval``: the state as people read it."""
        return self.value.replace("_", " ")


S = RunState

#: Waiting for a person: Confirm/Cancel, Approve/Deny.
AWAITING: frozenset[RunState] = frozenset({S.AWAITING_CONFIRMATION, S.AWAITING_APPROVAL})
#: Owned by an executing process (queued for, or in, its executor); heart-beaten by the owner.
ACTIVE: frozenset[RunState] = frozenset({S.QUEUED, S.RUNNING, S.ABORTING})
#: Where a run ends.
FINAL: frozenset[RunState] = frozenset(
    {S.SUCCEEDED, S.FAILED, S.ABORTED, S.DENIED, S.CANCELLED, S.EXPIRED, S.INTERRUPTED, S.REPLAN_REQUIRED}
)

#: Where a run whose owner died is taken over in place (new owner, same state) if its step can resume.
RESUMABLE: frozenset[RunState] = frozenset({S.RUNNING, S.ABORTING})
assert RESUMABLE <= ACTIVE
assert not RESUMABLE & FINAL

#: The allowed transitions: from a state, to these.
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    S.PLANNED: frozenset({S.AWAITING_CONFIRMATION, S.RUNNING, S.DENIED}),
    S.AWAITING_CONFIRMATION: frozenset({S.AWAITING_APPROVAL, S.QUEUED, S.CANCELLED, S.EXPIRED}),
    S.AWAITING_APPROVAL: frozenset({S.QUEUED, S.DENIED, S.CANCELLED, S.EXPIRED}),
    S.QUEUED: frozenset({S.RUNNING, S.ABORTED, S.INTERRUPTED}),
    S.RUNNING: frozenset({S.ABORTING, S.SUCCEEDED, S.FAILED, S.ABORTED, S.INTERRUPTED, S.REPLAN_REQUIRED}),
    S.ABORTING: frozenset({S.ABORTED, S.SUCCEEDED, S.FAILED, S.INTERRUPTED, S.REPLAN_REQUIRED}),
    **{final: frozenset() for final in FINAL},
}
assert set(TRANSITIONS) == set(RunState), "every state needs a row in TRANSITIONS"


def check_transition(from_states: Collection[str], to_state: str) -> tuple[list[RunState], RunState]:
    """The states as ``RunState``s; ValueError when a name is unknown or a move is not in ``TRANSITIONS``."""
    try:
        sources = [RunState(s) for s in from_states]
        target = RunState(to_state)
    except ValueError as exc:
        raise ValueError(f"unknown run state: {exc}") from None
    refused = [s for s in sources if target not in TRANSITIONS[s]]
    if refused:
        raise ValueError(f"a run cannot go from {', '.join(refused)} to {target}")
    return sources, target
