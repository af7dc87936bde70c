"""The run state machine: one table of transitions, every state rendered, and the store refusing the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.plans import STATE_WORDS
from bot.store import ACTIVE, AWAITING, FINAL, TRANSITIONS, RunRecord, RunState, Store


def test_every_state_has_a_row_words_and_exactly_one_kind() -> None:
    assert set(TRANSITIONS) == set(RunState) == set(STATE_WORDS)
    assert AWAITING | ACTIVE | FINAL | {RunState.PLANNED} == set(RunState)
    assert not (AWAITING & ACTIVE)
    assert not (ACTIVE & FINAL)
    assert not (AWAITING & FINAL)
    assert all(TRANSITIONS[s] == frozenset() for s in FINAL), "final states are final"


def _record(state: str) -> RunRecord:
    return RunRecord(
        id="r1", runbook="cordon", risk="change", cluster="c", namespace="default", command="cordon n1",
        requester_chat_id="U1", requester_name="alice", kube_user="alice", kube_groups=[], state=state,
        plan={}, plan_hash="h",
    )  # fmt: skip


@pytest.mark.parametrize(("source", "target"), [(s, t) for s in RunState for t in RunState])
def test_the_store_moves_a_run_only_along_the_table(source: RunState, target: RunState, tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.create_run(_record(source))
        if target in TRANSITIONS[source]:
            assert store.transition("r1", [source], target) is True
            assert store.transition("r1", [source], target) is False, "compare-and-set: once"
        else:
            with pytest.raises(ValueError, match=f"cannot go from {source} to {target}"):
                store.transition("r1", [source], target)
            rec = store.get_run("r1")
            assert rec is not None
            assert rec.state == source
