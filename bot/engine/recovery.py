"""Recovery of runs whose owner went silent — a periodic job on every serving replica.

Only a run whose owner stopped heart-beating for ``stale_after_seconds`` is touched, and only with
a compare-and-set on its owner *and* the heartbeat seen, so a live owner that beats in between
keeps its run. A run that had not started (queued) is taken over and executed here. A run that was
executing is taken over in place (still running, audit ``taken_over``) when the step it was executing
can resume from its stored state (``StepPlan.resumable``: a canary progression) and resumes here at
that step; any other is marked ``interrupted`` with what was and was not done, and its message updated.
Merely starting a process (a second replica, ``shell``, ``check-config``) recovers nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from bot.durations import clock_time
from bot.engine.accounts import account_of, resume_step
from bot.engine.ledger import RunLedger
from bot.store import ACTIVE, RunRecord, RunState

log = logging.getLogger("bot.recovery")
Submit = Callable[[RunRecord], None]
Notify = Callable[[str], None]


class Recovery:
    """Finds stale runs and settles them; ``start`` runs it every ``recover_every_seconds``."""

    def __init__(self, ledger: RunLedger, owner_id: str, submit: Submit, notify: Notify) -> None:
        self.ledger = ledger
        self.owner_id = owner_id
        self._submit = submit
        self._notify = notify
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Check now and then periodically, in a thread, until ``stop``."""
        every = self.ledger.settings.execution.recover_every_seconds
        self._thread = threading.Thread(target=self._loop, args=(every,), name="run-recovery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the periodic job."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self, every: float) -> None:
        while not self._stop.is_set():
            try:
                self.recover_once()
            except Exception:
                log.warning("run recovery failed this round", exc_info=True)
            self._stop.wait(every)

    def recover_once(self) -> list[str]:
        """Settle every run whose owner is stale now; the ids settled."""
        stale_after = timedelta(seconds=self.ledger.settings.execution.stale_after_seconds)
        cutoff = self.ledger.clock() - stale_after
        settled = []
        for rec in self.ledger.store.runs_in_states(list(ACTIVE), heartbeat_before=cutoff):
            if rec.state == RunState.QUEUED:
                done = self._take_over(rec)
            elif (step := resume_step(self.ledger.store, rec)) is not None:
                done = self._resume(rec, step)
            else:
                done = self._interrupt(rec)
            if done:
                settled.append(rec.id)
        return settled

    def _take_over(self, rec: RunRecord) -> bool:
        """A queued run nobody is executing: make it ours and execute it here."""
        now = self.ledger.clock()
        if not self.ledger.store.take_queued_run(rec.id, rec.owner_id, rec.heartbeat_at, self.owner_id, now):
            return False
        who = f"from {rec.owner_id}" if rec.owner_id else "(it had no owner)"
        self.ledger.audit(rec, "bot", "taken_over", f"queued run taken over by {self.owner_id} {who}")
        self._submit(rec)
        return True

    def _resume(self, rec: RunRecord, step: int) -> bool:
        """An executing run whose owner died, at a step that resumes from its stored state: ours, resumed here."""
        now = self.ledger.clock()
        if not self.ledger.store.take_running_run(rec.id, rec.owner_id, rec.heartbeat_at, self.owner_id, now):
            return False
        beat = clock_time(rec.heartbeat_at, now, seconds=True) if rec.heartbeat_at else "none"
        summary = (
            f"{rec.state} run taken over by {self.owner_id} from {rec.owner_id or 'no owner'} (last heartbeat "
            f"{beat}); it resumes at step {step} from its stored state"
        )
        self.ledger.audit(rec, "bot", "taken_over", summary, resume_at=step)
        self._submit(rec)
        return True

    def _interrupt(self, rec: RunRecord) -> bool:
        """An executing run whose owner died: interrupted, with its account; claims released; message updated."""
        beat = clock_time(rec.heartbeat_at, self.ledger.clock(), seconds=True) if rec.heartbeat_at else "never"
        outcome = (
            f"interrupted: the bot process executing this run ({rec.owner_id or 'unknown'}) stopped (last heartbeat "
            f"{beat}). {account_of(self.ledger.store, rec).text()} Check the cluster before retrying."
        )
        if not self.ledger.move(
            rec,
            [rec.state],
            RunState.INTERRUPTED,
            expected=False,
            owner=rec.owner_id,
            heartbeat_was=rec.heartbeat_at,
            finished_at=self.ledger.clock(),
            outcome=outcome,
        ):
            return False
        self.ledger.audit(rec, "bot", "interrupted", outcome, by=self.owner_id)
        self.ledger.store.release_group_claims(rec.id)
        try:
            self._notify(rec.id)
        except Exception:
            log.warning("cannot update the message of an interrupted run", extra={"run_id": rec.id}, exc_info=True)
        return True
