"""A stopped run's account: the drain's own (pods evicted, pods left, clipped), and how the run's
"Done / Not done" uses the executing step's account instead of its plan line."""

from __future__ import annotations

from pathlib import Path

from bot.engine.accounts import account_of
from bot.steps.artifacts import RunArtifacts
from bot.steps.base import StepAccount, step_key
from bot.steps.drain.account import clipped, drain_account
from bot.store import RunRecord, Store


def test_clipped_names_at_most_the_limit_then_says_how_many_more() -> None:
    assert clipped(["a", "b"], 3) == "a, b"
    assert clipped([f"p{i}" for i in range(25)], 20) == ", ".join(f"p{i}" for i in range(20)) + ", … and 5 more"
    assert clipped(["x: slow", "y: gone", "z: 503"], 2, "; ") == "x: slow; y: gone; … and 1 more"


def test_a_drain_account_says_how_many_were_evicted_and_names_what_is_left() -> None:
    left = [f"ns/web-{i}" for i in range(23)]
    evicted = [f"ns/api-{i}" for i in range(27)]
    done, not_done = drain_account("node-1", evicted, 50, left, fresh=True)
    assert done == ["evicted 27 of 50 pods from node node-1: " + clipped(evicted)]
    assert done[0].endswith("ns/api-19, … and 7 more")
    (line,) = not_done
    assert line.startswith("23 pod(s) still on node node-1: ns/web-0, ns/web-1")
    assert line.endswith("… and 3 more")
    _, stale = drain_account("node-1", evicted, 50, left[:2], fresh=False)
    assert "(as last seen: the API server did not answer)" in stale[0]
    assert drain_account("node-1", [], 0, [], fresh=True) == (["evicted 0 of 0 pods from node node-1"], [])


def _run(store: Store) -> RunRecord:
    rec = RunRecord(
        id="r1",
        runbook="drain",
        risk="destructive",
        cluster="c",
        namespace="default",
        command="drain n1",
        requester_chat_id="U1",
        requester_name="alice",
        kube_user="alice",
        kube_groups=[],
        state="running",
        plan={"step_lines": ["cordon node n1", "evict 20 pod(s) from node n1 (timeout 600s)", "notify"]},
        plan_hash="h",
    )
    store.create_run(rec)
    return rec


def test_the_executing_steps_own_account_replaces_its_plan_line(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        rec = _run(store)
        for kind, step in (("step_started", 1), ("step_finished", 1), ("step_started", 2)):
            store.add_audit("r1", "bot", kind, f"step {step}", {"step": step})
        RunArtifacts("r1", store).put(
            StepAccount(done=["evicted 10 of 20 pods from node n1"], not_done=["10 pod(s) still on node n1: a, b"]),
            step_key(2),
        )
        account = account_of(store, rec)
    assert account.done == ["cordon node n1", "evicted 10 of 20 pods from node n1"]
    assert account.not_done == ["10 pod(s) still on node n1: a, b", "notify"]
    assert account.text() == (
        "Done: cordon node n1; evicted 10 of 20 pods from node n1. Not done: 10 pod(s) still on node n1: a, b; notify."
    )


def test_without_an_account_the_plan_lines_stand(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        rec = _run(store)
        store.add_audit("r1", "bot", "step_started", "step 1", {"step": 1})
        account = account_of(store, rec)
    assert account.done == []
    assert account.not_done == ["cordon node n1", "evict 20 pod(s) from node n1 (timeout 600s)", "notify"]
