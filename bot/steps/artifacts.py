"""Typed artifacts: what one step of a run hands to the next (e.g. the nodes of a group before a
replacement), as pydantic models rather than dicts read back from the audit log.

Artifacts are stored with the run (``run_artifacts``), so they are there for every later step and
for whoever reports on an interrupted run; without a store they live in memory for the run.

``RunHold`` is the one artifact written from outside the run: a person's Pause (or Resume) of a
running run, set by the engine's decisions on whichever replica took the click, and read by the
steps whose plan says they honour it (``StepPlan.pausable``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from bot.store import Store

M = TypeVar("M", bound=BaseModel)


class RunArtifacts:
    """The artifacts of one run, by model type and an optional key (e.g. a node name)."""

    def __init__(self, run_id: str, store: Store | None) -> None:
        self._run_id = run_id
        self._store = store
        self._memory: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, value: BaseModel, key: str = "") -> None:
        """Keep ``value`` for the later steps of this run (replacing one of the same type and key)."""
        kind, data = type(value).__name__, value.model_dump(mode="json")
        if self._store is not None:
            self._store.put_artifact(self._run_id, kind, key, data)
        else:
            self._memory[(kind, key)] = data

    def get(self, model: type[M], key: str = "") -> M | None:
        """The artifact of type ``model`` (and ``key``) an earlier step kept, or None."""
        kind = model.__name__
        data = (
            self._store.get_artifact(self._run_id, kind, key)
            if self._store is not None
            else self._memory.get((kind, key))
        )
        return None if data is None else model.model_validate(data)


class RunHold(BaseModel):
    """A person's Pause of a running run: while ``paused``, a pausable step starts no new action."""

    paused: bool
    by: str
    at: datetime
