"""The run executor: a bounded pool of its own, so long runs never starve the threads answering Slack.

``workers`` runs execute at once; more wait in order (a run's message says how many are ahead of
it); at most ``per_user`` of one person's runs execute at once (the others wait their turn); a
decision that would queue beyond ``queue`` waiting runs is refused with "try again". Waiting runs
are heart-beaten like running ones (``beat``), so no replica takes over a run whose owner is alive
and only busy; one that is no longer ours (aborted before it started) leaves the line. On shutdown
the executor takes no more runs, raises every running run's abort flag (steps stop at a safe
point), hands back the runs that had not started (another replica takes them) and waits for the
running ones up to the grace period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.config.execution import ExecutionSettings
from bot.engine.execution import RunControl

log = logging.getLogger("bot.executor")
Work = Callable[[str, RunControl], None]
#: Stamp the heartbeat of these runs; the ids still ours.
Beat = Callable[[list[str]], set[str]]


@dataclass(frozen=True)
class Ticket:
    """Where a submitted run stands: started, or waiting behind ``ahead`` others (or its person's own runs)."""

    run_id: str
    ahead: int
    yours_ahead: int = 0  # runs of the same person that must end first (``per_user``)
    per_user: int = 0

    @property
    def waits(self) -> bool:
        """Whether the run waits for its turn."""
        return self.ahead > 0 or self.yours_ahead > 0

    def words(self) -> str:
        """``starting now`` / ``queued: 2 runs ahead of yours`` / ``queued behind 1 run of your own (…)``."""
        if self.ahead > 0:
            return f"queued: {self.ahead} run{'s' if self.ahead != 1 else ''} ahead of yours"
        if self.yours_ahead > 0:
            return (
                f"queued behind {self.yours_ahead} run{'s' if self.yours_ahead != 1 else ''} of your own "
                f"(at most {self.per_user} of one person's runs execute at once)"
            )
        return "starting now"


class RunExecutor:
    """Runs ``work(run_id, control)`` on ``workers`` threads of its own, in order, within the limits."""

    def __init__(self, settings: ExecutionSettings, work: Work, release: Callable[[str], None], beat: Beat) -> None:
        self._settings = settings
        self._work = work
        self._release = release
        self._beat = beat
        self._cond = threading.Condition()
        self._waiting: deque[tuple[str, str]] = deque()  # (run_id, user)
        self._running: dict[str, tuple[str, RunControl]] = {}
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()

    # -- admission and submission ---------------------------------------------------------------
    def refusal(self) -> str | None:
        """Why a new run cannot be queued now, or None."""
        if self._closing.is_set():
            return "the bot is restarting and takes no new runs; click again in a minute"
        with self._cond:
            waiting = len(self._waiting)
        if waiting >= self._settings.queue and len(self._running) >= self._settings.workers:
            return (
                f"the bot is busy ({len(self._running)} runs executing, {waiting} waiting); nothing was started — "
                "click again in a few minutes"
            )
        return None

    def submit(self, run_id: str, user: str) -> Ticket:
        """Queue a run this process owns; its position in the line (shutting down: handed back at once)."""
        if self._closing.is_set():
            self._release(run_id)  # another replica takes it; this one would only interrupt it
            return Ticket(run_id, 0)
        self._start_threads()
        with self._cond:
            if run_id in self._running or any(r == run_id for r, _ in self._waiting):
                return Ticket(run_id, 0)
            self._waiting.append((run_id, user))
            ticket = Ticket(run_id, self._position(run_id), self._yours_ahead(run_id, user), self._settings.per_user)
            self._cond.notify_all()
        return ticket

    def _position(self, run_id: str) -> int:
        """Runs that will start before ``run_id`` (all waiting ahead, plus the busy workers if full)."""
        index = next(i for i, (r, _) in enumerate(self._waiting) if r == run_id)
        free = self._settings.workers - len(self._running)
        return max(0, index + 1 - free)

    def _yours_ahead(self, run_id: str, user: str) -> int:
        """Runs of ``user`` (executing, or waiting before ``run_id``) that must end before it may start."""
        index = next(i for i, (r, _) in enumerate(self._waiting) if r == run_id)
        mine = sum(1 for u, _ in self._running.values() if u == user)
        mine += sum(1 for _, u in list(self._waiting)[:index] if u == user)
        return max(0, mine - self._settings.per_user + 1)

    def owned(self) -> list[str]:
        """Runs this executor holds (running or waiting)."""
        with self._cond:
            return [*self._running, *(r for r, _ in self._waiting)]

    def abort(self, run_id: str) -> None:
        """Raise a running run's abort flag (no effect on others)."""
        with self._cond:
            held = self._running.get(run_id)
        if held is not None:
            held[1].abort.set()

    # -- the workers ------------------------------------------------------------------------------
    def _start_threads(self) -> None:
        with self._cond:
            if self._threads or self._closing.is_set():
                return
            for i in range(self._settings.workers):
                thread = threading.Thread(target=self._worker, name=f"run-worker-{i}", daemon=True)
                self._threads.append(thread)
                thread.start()
            keeper = threading.Thread(target=self._keep_waiting, name="run-queue-keeper", daemon=True)
            self._threads.append(keeper)
            keeper.start()

    def _keep_waiting(self) -> None:
        """Heart-beat the runs waiting for a worker (running ones have their own keeper); drop those not ours."""
        while not self._closing.wait(self._settings.heartbeat_seconds):
            with self._cond:
                waiting = [r for r, _ in self._waiting]
            if not waiting:
                continue
            try:
                gone = set(waiting) - self._beat(waiting)
            except Exception:  # the store may be unreachable for a moment: beat again next round
                log.warning("cannot heart-beat the waiting runs", exc_info=True)
                continue
            if gone:  # aborted before it started: nothing left to run
                with self._cond:
                    self._waiting = deque(item for item in self._waiting if item[0] not in gone)
                log.info("runs no longer ours left the line", extra={"runs": ",".join(sorted(gone))})

    def _next(self) -> tuple[str, str] | None:
        """The first waiting run whose person is under ``per_user`` (the lock is held)."""
        busy: dict[str, int] = {}
        for user, _ in self._running.values():
            busy[user] = busy.get(user, 0) + 1
        for item in self._waiting:
            if busy.get(item[1], 0) < self._settings.per_user:
                self._waiting.remove(item)
                return item
        return None

    def _worker(self) -> None:
        while True:
            with self._cond:
                item = self._next()
                while item is None:
                    if self._closing.is_set():
                        return
                    self._cond.wait()
                    item = self._next()
                run_id, user = item
                control = RunControl()
                if self._closing.is_set():
                    control.shutting_down.set()
                    control.abort.set()
                self._running[run_id] = (user, control)
            try:
                self._work(run_id, control)
            except Exception:
                log.exception("run worker failed", extra={"run_id": run_id})
            finally:
                with self._cond:
                    self._running.pop(run_id, None)
                    self._cond.notify_all()

    # -- shutdown ---------------------------------------------------------------------------------
    def shutdown(self, grace_seconds: float) -> list[str]:
        """Stop taking runs, hand back waiting ones, ask running ones to stop; the runs still running after grace."""
        self._closing.set()
        with self._cond:
            handed_back = [r for r, _ in self._waiting]
            self._waiting.clear()
            for _, control in self._running.values():
                control.shutting_down.set()
                control.abort.set()
            self._cond.notify_all()
        for run_id in handed_back:
            try:
                self._release(run_id)
            except Exception:
                log.warning("could not hand back a queued run", extra={"run_id": run_id}, exc_info=True)
        deadline = time.monotonic() + grace_seconds
        with self._cond:
            while self._running and time.monotonic() < deadline:
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            left = list(self._running)
        if left:
            log.warning("runs still executing after the grace period", extra={"runs": ",".join(left)})
        return left
