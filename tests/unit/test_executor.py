"""The run executor's line: who waits behind whom, and the runs waiting their turn stay heart-beaten."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bot.config.execution import ExecutionSettings
from bot.engine.execution import RunControl
from bot.engine.executor import RunExecutor

FAST = ExecutionSettings(workers=4, per_user=1, heartbeat_seconds=0.05, stale_after_seconds=1.0)


class Line:
    """An executor whose runs block until released, and what its queue keeper stamped."""

    def __init__(self, ours: set[str] | None = None) -> None:
        self.release_runs = threading.Event()
        self.beaten: list[str] = []
        self.ours = ours
        self.executor = RunExecutor(FAST, self._work, lambda _run_id: None, self._beat)

    def _work(self, run_id: str, control: RunControl) -> None:
        self.release_runs.wait(10)

    def _beat(self, run_ids: list[str]) -> set[str]:
        self.beaten += run_ids
        return set(run_ids) if self.ours is None else set(run_ids) & self.ours


@pytest.fixture
def line() -> Iterator[Line]:
    held = Line()
    yield held
    held.release_runs.set()
    held.executor.shutdown(5)


def wait_until(what: str, probe: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_run_behind_its_persons_own_runs_says_so(line: Line) -> None:
    first = line.executor.submit("r1", "alice")
    second = line.executor.submit("r2", "alice")
    third = line.executor.submit("r3", "alice")
    other = line.executor.submit("r4", "bob")
    assert not first.waits
    assert first.words() == "starting now"
    assert second.words() == "queued behind 1 run of your own (at most 1 of one person's runs execute at once)"
    assert third.yours_ahead == 2
    assert third.waits
    assert not other.waits, "another person's run starts on a free worker"


def test_runs_waiting_their_turn_are_heart_beaten_and_leave_the_line_once_not_ours() -> None:
    line = Line(ours={"r1", "r2"})  # r3 was aborted before it started
    try:
        for run_id in ("r1", "r2", "r3"):
            line.executor.submit(run_id, "alice")
        wait_until("r3 dropped", lambda: "r3" not in line.executor.owned())
        assert "r2" in line.beaten
        assert "r3" in line.beaten
        assert sorted(line.executor.owned()) == ["r1", "r2"]
    finally:
        line.release_runs.set()
        line.executor.shutdown(5)


def test_a_shutting_down_executor_hands_back_what_is_submitted_instead_of_starting_it() -> None:
    released: list[str] = []
    started: list[str] = []
    executor = RunExecutor(FAST, lambda run_id, _c: started.append(run_id), released.append, lambda ids: set(ids))
    assert executor.shutdown(1) == []
    ticket = executor.submit("late", "alice")
    assert not ticket.waits
    assert released == ["late"]
    assert started == []
    assert executor.owned() == []
