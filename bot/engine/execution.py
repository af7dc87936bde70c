"""Executing one run: take it (queued → running) as its owner, re-plan, compare, re-authorize, run
every step, and record the outcome — only while this process still owns it.

While a run executes, a keeper thread stamps its heartbeat every ``heartbeat_seconds`` and watches
the store for an abort (a click taken by any replica). If the heartbeat is refused — another
replica decided this process was dead and took the run over — the run stops starting actions at
once, and its outcome is recorded as lost, not as done.

A run taken over in place by recovery (its step can resume from its stored state) is executed again
here from that step: the steps before it finished (the audit trail says so) and are not repeated.
When such a step stops because this process shuts down, the run is handed back, still running, for
any replica's recovery to resume — not marked interrupted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.clients.api_errors import translated_api_errors
from bot.config.logs import carry_context, log_context
from bot.durations import seconds_text
from bot.engine.accounts import account_of, resume_step
from bot.engine.engine import Engine, PreparedRun, new_ref
from bot.engine.ledger import RunLedger
from bot.errors import AbortedError, BotError
from bot.model import Requester
from bot.report import Report, Tone
from bot.store import RunRecord, RunState

log = logging.getLogger("bot.workflow")
ABORT_POLL_SECONDS = 0.3
FINISHING = (RunState.RUNNING, RunState.ABORTING)


@dataclass
class RunControl:
    """How the executor steers one run: its abort flag, and whether the process is shutting down."""

    abort: threading.Event = field(default_factory=threading.Event)
    shutting_down: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)


class RunExecution:
    """Executes runs this process owns."""

    def __init__(self, ledger: RunLedger, engine: Engine, owner_id: str) -> None:
        self.ledger = ledger
        self.engine = engine
        self.owner_id = owner_id

    def execute(self, run_id: str, progress: Callable[[str], None], control: RunControl) -> Report:
        """Run a queued run to its end; the run's message for the state it ended in."""
        rec = self.ledger.get(run_id)
        now = self.ledger.clock()
        resume_at = resume_step(self.ledger.store, rec) if self._taken_over(rec) else None
        if resume_at is None and not self.ledger.move(
            rec,
            [RunState.QUEUED],
            RunState.RUNNING,
            expected=False,
            owner=self.owner_id,
            started_at=now,
            heartbeat_at=now,
        ):
            return self.ledger.report(run_id)
        with log_context(run_id=run_id, cluster=rec.cluster, user=rec.kube_user or rec.requester_chat_id):
            keeper = _Keeper(self, run_id, control)
            keeper.start()
            try:
                return self._execute(rec, progress, control, resume_at)
            finally:
                keeper.stop()
                self.ledger.store.release_group_claims(run_id)

    def _taken_over(self, rec: RunRecord) -> bool:
        """Is ``rec`` a run this process took over in place (running, ours) to resume it?"""
        return rec.state in FINISHING and rec.owner_id == self.owner_id

    def _execute(
        self, rec: RunRecord, progress: Callable[[str], None], control: RunControl, resume_at: int | None
    ) -> Report:
        started = time.monotonic()
        requester = Requester(rec.requester_chat_id, rec.requester_name, rec.kube_user, tuple(rec.kube_groups))
        decisions = self.ledger.store.approvals(rec.id)
        approvers = [a.kube_user or a.approver_chat_id for a in decisions if a.decision == "approve"]
        try:
            run = self.engine.prepare(rec.command, requester, rec.channel, progress, run_id=rec.id, approvers=approvers)
            if run.plan_hash != rec.plan_hash:
                return self._replan(rec, run, resumed=resume_at is not None)
            self.engine.authorize(run)
            self._steer(rec, run, control)
            if resume_at is not None:
                self.ledger.audit(rec, "bot", "resumed", f"resuming at step {resume_at} on {self.owner_id}")
            last = self._steps(rec, run, control, resume_at)
        except AbortedError as exc:
            if control.shutting_down.is_set() or control.lost.is_set():
                if resume_step(self.ledger.store, rec) is not None:
                    return self._hand_over(rec, control)
                why = "the bot was shutting down" if control.shutting_down.is_set() else "this process lost the run"
                return self._finish(rec, RunState.INTERRUPTED, f"interrupted: {why} ({exc})", account=True)
            return self._finish(rec, RunState.ABORTED, f"aborted: {exc}", account=True)
        except BotError as exc:
            return self._finish(rec, RunState.FAILED, f"failed: {exc}", account=True)
        except Exception:
            ref = new_ref()
            log.exception("internal error during execution", extra={"ref": ref})
            return self._finish(rec, RunState.FAILED, f"failed with an internal error (ref {ref})", account=True)
        outcome = (last.title if last else "done") + f" ({seconds_text(time.monotonic() - started)})"
        report = self._finish(rec, RunState.SUCCEEDED, outcome)
        if report.tone != Tone.ERROR:
            report.tone = Tone.OK
        return report

    def _steer(self, rec: RunRecord, run: PreparedRun, control: RunControl) -> None:
        """Give the steps the run's abort flag, its ownership check and why the flag may be raised."""
        run.context.abort = control.abort
        run.context.owns_run = lambda: self._owns(rec.id, control)
        run.context.handing_over = lambda: control.shutting_down.is_set() or control.lost.is_set()

    def _owns(self, run_id: str, control: RunControl) -> bool:
        """Stamp the heartbeat now; when another process took the run over, stop it (lost) and say False."""
        if self.heartbeat(run_id):
            return True
        control.lost.set()
        control.abort.set()
        return False

    def _hand_over(self, rec: RunRecord, control: RunControl) -> Report:
        """A resumable step stopped because this process stops executing the run: leave it running for recovery."""
        if control.lost.is_set():
            log.warning("run taken over by another process: it resumes there")
            return self.ledger.report(rec.id)
        if self.ledger.store.release_running_run(rec.id, self.owner_id):
            self.ledger.audit(
                rec,
                "bot",
                "handed_back",
                "the bot is shutting down: the run resumes on another replica from its stored state",
            )
        return self.ledger.report(rec.id)

    def _steps(self, rec: RunRecord, run: PreparedRun, control: RunControl, resume_at: int | None) -> Report | None:
        last: Report | None = None
        total = len(run.steps)
        for i, ps in enumerate(run.steps, 1):
            if i < (resume_at or 1):
                continue  # finished before this process took the run over (the audit trail says so)
            # A resumed step was already under way: it answers an abort itself (a progression restores stable).
            if control.abort.is_set() and i != resume_at:
                raise AbortedError(f"stopped before step {i}: {ps.plan.description}")
            run.context.step_index = i
            run.context.planned = ps.plan
            self.ledger.audit(rec, "bot", "step_started", f"step {i}/{total}: {ps.plan.description}", step=i)
            with translated_api_errors(run.cluster):
                out = ps.step.run(run.context, ps.params)
            last = out or last
            self.ledger.audit(rec, "bot", "step_finished", f"step {i}/{total} done: {ps.plan.description}", step=i)
        return last

    def _replan(self, rec: RunRecord, run: PreparedRun, *, resumed: bool = False) -> Report:
        msg = (
            "the cluster changed since this plan was confirmed; nothing was done. "
            "Run the command again to see the new plan."
        )
        if resumed:
            msg = (
                "the cluster changed since this plan was confirmed: the resumed run did nothing more. "
                f"{account_of(self.ledger.store, rec).text()} Run the command again to see the new plan."
            )
        self._finish(rec, RunState.REPLAN_REQUIRED, msg)
        self.ledger.audit(rec, "bot", "replan_required", msg, new_plan_hash=run.plan_hash)
        now = [s.plan.description for s in run.steps] + [w for s in run.steps for w in s.plan.warnings]
        return self.ledger.report(rec.id, extra=["Now it would: " + "; ".join(now)])

    def _finish(self, rec: RunRecord, state: RunState, outcome: str, *, account: bool = False) -> Report:
        """Record the outcome if this process still owns the run; the report of what is stored either way."""
        if account:
            outcome += " " + account_of(self.ledger.store, rec).text()
        if self.ledger.move(
            rec, FINISHING, state, owner=self.owner_id, finished_at=self.ledger.clock(), outcome=outcome
        ):
            self.ledger.audit(rec, "bot", state.value, outcome)
        return self.ledger.report(rec.id)

    # -- the keeper's two duties ------------------------------------------------------------------
    def heartbeat(self, run_id: str) -> bool:
        """Stamp the run; False when this process no longer owns it."""
        return run_id in self.ledger.store.heartbeat(self.owner_id, [run_id])

    def abort_requested(self, run_id: str) -> bool:
        """Has anyone (on any replica) asked to abort the run?"""
        rec = self.ledger.store.get_run(run_id)
        return rec is not None and rec.state == RunState.ABORTING


class _Keeper:
    """Per executing run: heartbeat every ``heartbeat_seconds``, abort poll every few hundred ms."""

    def __init__(self, execution: RunExecution, run_id: str, control: RunControl) -> None:
        self._execution = execution
        self._run_id = run_id
        self._control = control
        self._done = threading.Event()
        self._every = execution.ledger.settings.execution.heartbeat_seconds
        self._thread = threading.Thread(target=carry_context(self._loop), name=f"keeper-{run_id}", daemon=True)

    def start(self) -> None:
        """Begin keeping the run."""
        self._thread.start()

    def stop(self) -> None:
        """Stop (the run ended)."""
        self._done.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        next_beat = time.monotonic() + self._every
        while not self._done.wait(ABORT_POLL_SECONDS):
            try:
                if not self._control.abort.is_set() and self._execution.abort_requested(self._run_id):
                    self._control.abort.set()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self._every
                    if not self._execution.heartbeat(self._run_id) and not self._done.is_set():
                        log.warning("ownership of the run lost: stopping it")
                        self._control.lost.set()
                        self._control.abort.set()
            except Exception:
                log.warning("cannot reach the store to keep the run", exc_info=True)
