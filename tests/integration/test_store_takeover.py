"""Taking over a resumable run in place, on SQLite and on a real PostgreSQL: a compare-and-set on the
owner and the heartbeat seen that keeps the run's state, won by exactly one of many racers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.store import RunRecord, Store

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    try:
        yield s
    finally:
        s.close()


def make_run(state: str, owner: str | None = "old", heartbeat: datetime | None = T0, **kw: Any) -> RunRecord:
    return RunRecord(
        id=uuid.uuid4().hex[:12],
        runbook="canary",
        risk="change",
        cluster="c",
        namespace="default",
        command="canary web 90/10 --step 10 --until 50/50",
        requester_chat_id="U1",
        requester_name="alice",
        kube_user="alice",
        kube_groups=[],
        state=state,
        plan={},
        plan_hash="h",
        owner_id=owner,
        heartbeat_at=heartbeat,
        **kw,
    )


def test_a_stale_running_run_is_taken_over_keeping_its_state(store: Store) -> None:
    rec = make_run("running")
    store.create_run(rec)
    now = T0 + timedelta(minutes=1)
    assert not store.take_running_run(rec.id, "someone-else", T0, "new", now), "the owner seen must still own it"
    assert not store.take_running_run(rec.id, "old", T0 - timedelta(seconds=1), "new", now), "it beat since"
    assert store.take_running_run(rec.id, "old", T0, "new", now)
    taken = store.get_run(rec.id)
    assert taken is not None
    assert (taken.state, taken.owner_id, taken.heartbeat_at) == ("running", "new", now)
    assert not store.take_running_run(rec.id, "old", T0, "third", now), "taken once"
    assert store.heartbeat("old", [rec.id]) == set(), "the old owner's heartbeat is refused: it lost the run"
    assert store.heartbeat("new", [rec.id]) == {rec.id}


def test_aborting_runs_are_taken_over_as_aborting_and_other_states_never(store: Store) -> None:
    aborting = make_run("aborting")
    store.create_run(aborting)
    assert store.take_running_run(aborting.id, "old", T0, "new", T0)
    assert store.get_run(aborting.id).state == "aborting"  # type: ignore[union-attr]
    for state in ("queued", "succeeded", "interrupted", "awaiting_approval"):
        rec = make_run(state)
        store.create_run(rec)
        assert not store.take_running_run(rec.id, "old", T0, "new", T0), state
        assert store.get_run(rec.id).owner_id == "old"  # type: ignore[union-attr]


def test_twenty_replicas_racing_to_take_over_one_run_win_once(store: Store) -> None:
    rec = make_run("running")
    store.create_run(rec)
    with ThreadPoolExecutor(max_workers=20) as pool:
        wins = list(pool.map(lambda i: store.take_running_run(rec.id, "old", T0, f"r{i}", T0), range(20)))
    assert wins.count(True) == 1
    winner = store.get_run(rec.id)
    assert winner is not None
    assert winner.owner_id == f"r{wins.index(True)}"


def test_a_run_handed_back_keeps_state_and_owner_and_is_free_to_take(store: Store) -> None:
    rec = make_run("running")
    store.create_run(rec)
    assert not store.release_running_run(rec.id, "someone-else")
    assert store.release_running_run(rec.id, "old")
    handed = store.get_run(rec.id)
    assert handed is not None
    assert (handed.state, handed.owner_id, handed.heartbeat_at) == ("running", "old", None)
    assert [r.id for r in store.runs_in_states(["running"], heartbeat_before=T0)] == [rec.id]
    assert store.take_running_run(rec.id, "old", None, "next", T0)
