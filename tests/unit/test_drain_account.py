"""A stopped drain's account (pods evicted, pods left, clipped) and how the run's "Done / Not done" uses it."""

from __future__ import annotations

from bot.engine.workflow import _accounted
from bot.errors import AbortedError, PermanentError, StepAccount, TemporaryError
from bot.steps.drain_account import clipped, drain_account


def test_clipped_names_at_most_the_limit_then_says_how_many_more() -> None:
    assert clipped(["a", "b"], 3) == "a, b"
    assert clipped([f"p{i}" for i in range(25)], 20) == ", ".join(f"p{i}" for i in range(20)) + ", … and 5 more"
    assert clipped(["x: slow", "y: gone", "z: 503"], 2, "; ") == "x: slow; y: gone; … and 1 more"


def test_an_account_says_how_many_were_evicted_and_names_what_is_left() -> None:
    left = [f"ns/web-{i}" for i in range(23)]
    account = drain_account("node-1", 27, 50, left, fresh=True)
    assert account.done == "evicted 27 of 50 pods from node node-1"
    assert account.not_done.startswith("23 pod(s) still on node node-1: ns/web-0, ns/web-1")
    assert account.not_done.endswith("… and 3 more")
    stale = drain_account("node-1", 27, 50, left[:2], fresh=False)
    assert "(as last seen: the API server did not answer)" in stale.not_done
    assert drain_account("node-1", 50, 50, [], fresh=True).not_done == "none of the planned pods is left on node node-1"


def test_the_failing_steps_account_replaces_its_plan_line_in_not_done() -> None:
    steps = ["cordon node n1", "evict 20 pod(s) from node n1 (timeout 600s)", "notify"]
    account = StepAccount(done="evicted 10 of 20 pods from node n1", not_done="10 pod(s) still on node n1: a, b")
    for error in (
        PermanentError("failed", account=account),
        AbortedError("aborted", account=account),
        TemporaryError("later", delay=2.0, account=account),
    ):
        done, not_done = _accounted(["cordon node n1"], steps, error)
        assert done == ["cordon node n1", "evicted 10 of 20 pods from node n1"]
        assert not_done == ["10 pod(s) still on node n1: a, b", "notify"]


def test_without_an_account_the_plan_lines_stand() -> None:
    steps = ["cordon node n1", "evict 3 pod(s) from node n1"]
    assert _accounted(["cordon node n1"], steps, PermanentError("no")) == (
        ["cordon node n1"],
        ["evict 3 pod(s) from node n1"],
    )
