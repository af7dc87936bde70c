"""The run lifecycle for every surface: request → plan → authorize → confirm → approve → execute.

``RunService`` puts the parts together: ``RunRequests`` (commands become planned, authorized
runs), ``RunDecisions`` (confirm, approve, deny, cancel, break glass, abort — each a
compare-and-set), the ``RunExecutor`` (its own bounded pool, off Slack's acknowledgement path),
``RunExecution`` (one run, executed only while this process owns it) and ``Recovery`` (runs whose
owner went silent, settled by a periodic job). A surface sets a ``RunNotifier`` to hear about
progress and outcomes — including those of runs recovered from a dead replica.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.config.settings import Settings
from bot.engine.decisions import Decision, RunDecisions
from bot.engine.engine import Engine
from bot.engine.execution import RunControl, RunExecution
from bot.engine.executor import RunExecutor, Ticket
from bot.engine.identity import IdentityMapper
from bot.engine.ledger import AuditSink, RunLedger, utcnow
from bot.engine.recovery import Recovery
from bot.engine.requests import Outcome, RunRequests
from bot.engine.retention import Retention
from bot.model import Requester
from bot.report import Report
from bot.store import RunRecord, Store


class RunNotifier(Protocol):
    """How a surface hears about executing runs (Slack updates the run's message)."""

    def progress(self, run_id: str, text: str) -> None:
        """A progress line of a running run (may be throttled by the surface)."""
        ...

    def finished(self, run_id: str, report: Report) -> None:
        """The run ended (or was settled by recovery): ``report`` is its final message."""
        ...


class _Silent:
    def progress(self, run_id: str, text: str) -> None:
        """Nothing to tell."""

    def finished(self, run_id: str, report: Report) -> None:
        """Nothing to tell."""


def new_owner_id() -> str:
    """``host-pid-random``: names this process as the owner of the runs it executes."""
    host = os.environ.get("POD_NAME") or socket.gethostname()
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


class RunService:
    """Drives runs through their lifecycle for every surface (Slack, shell)."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        audit_sink: AuditSink | None = None,
        *,
        owner_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.owner_id = owner_id or new_owner_id()
        self.ledger = RunLedger(store, settings, clock, audit_sink)
        self.requests = RunRequests(self.ledger, engine, self.owner_id)
        self.executor = RunExecutor(settings.execution, self._work, self._hand_back, self._beat)
        self.decisions = RunDecisions(self.ledger, engine, self.owner_id, lambda _rec: self.executor.refusal())
        self.execution = RunExecution(self.ledger, engine, self.owner_id)
        self.recovery = Recovery(self.ledger, self.owner_id, self._take, self._tell_final)
        self.retention = Retention(self.ledger)
        self.notifier: RunNotifier = _Silent()
        engine.store = store
        engine.clock = lambda: self.ledger.clock()  # steps that wait (a canary progression) read the run's clock

    # -- what the parts share -----------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The run store."""
        return self.ledger.store

    @property
    def settings(self) -> Settings:
        """The bot's settings."""
        return self.ledger.settings

    @property
    def clock(self) -> Callable[[], datetime]:
        """The clock every decision and expiry is judged by."""
        return self.ledger.clock

    @clock.setter
    def clock(self, value: Callable[[], datetime]) -> None:
        self.ledger.clock = value

    @property
    def audit_sink(self) -> AuditSink | None:
        """Where audit events go besides the store (the Slack audit channel)."""
        return self.ledger.audit_sink

    @audit_sink.setter
    def audit_sink(self, value: AuditSink | None) -> None:
        self.ledger.audit_sink = value

    # -- surfaces ---------------------------------------------------------------------------------
    def request(
        self, text: str, requester: Requester, channel: str | None = None, request_key: str | None = None
    ) -> Outcome:
        """Plan a command (read-only runbooks run at once)."""
        return self.requests.request(text, requester, channel, request_key)

    def decide(self, kind: str, run_id: str, plan_hash: str, actor: Requester, reason: str = "") -> Decision:
        """A decision by name (a button, a shell verb); ValueError for an unknown kind."""
        return self.decisions.decide(kind, run_id, plan_hash, actor, reason)

    def confirm(self, run_id: str, plan_hash: str, actor: Requester) -> Decision:
        """The requester confirms the plan."""
        return self.decisions.confirm(run_id, plan_hash, actor)

    def approve(self, run_id: str, plan_hash: str, actor: Requester) -> Decision:
        """An approver approves."""
        return self.decisions.approve(run_id, plan_hash, actor)

    def deny(self, run_id: str, plan_hash: str, actor: Requester, reason: str) -> Decision:
        """An approver denies (the requester's deny is a cancel)."""
        return self.decisions.deny(run_id, plan_hash, actor, reason)

    def cancel(self, run_id: str, plan_hash: str, actor: Requester, reason: str = "") -> Decision:
        """The requester withdraws the request."""
        return self.decisions.cancel(run_id, plan_hash, actor, reason)

    def break_glass(self, run_id: str, plan_hash: str, actor: Requester, reason: str) -> Decision:
        """A break-glass member runs without approval, with a reason."""
        return self.decisions.break_glass(run_id, plan_hash, actor, reason)

    def abort(self, run_id: str, plan_hash: str, actor: Requester) -> Decision:
        """Stop a run (any replica may take the click)."""
        return self.decisions.abort(run_id, plan_hash, actor)

    def report_for(self, run_id: str, extra: list[str] | None = None) -> Report:
        """The run's message for its current state."""
        return self.ledger.report(run_id, extra)

    # -- execution ------------------------------------------------------------------------------
    def start(self, run_id: str) -> Ticket:
        """Hand a run a decision queued to the executor; progress and outcome go to the notifier."""
        rec = self.ledger.get(run_id)
        return self.executor.submit(run_id, rec.kube_user or rec.requester_chat_id)

    def execute(self, run_id: str, progress: Callable[[str], None] | None = None) -> Report:
        """Execute a queued run here, in the calling thread (the shell, tests); its final message."""
        return self.execution.execute(run_id, progress or (lambda _text: None), RunControl())

    def serve(self) -> None:
        """Start the periodic jobs of a serving replica: recovery of runs whose owner went silent, retention."""
        self.recovery.start()
        self.retention.start()

    def recover(self) -> list[str]:
        """Settle stale runs once (what the periodic job does); the ids settled."""
        return self.recovery.recover_once()

    def shutdown(self, grace_seconds: float) -> list[str]:
        """Stop taking runs, let running ones stop at a safe point within ``grace_seconds``; ids still running."""
        # Recovery first: otherwise this process takes back the runs it hands back (their heartbeat
        # is cleared for that) and, closing, starts them only to interrupt them.
        self.recovery.stop()
        self.retention.stop()
        return self.executor.shutdown(grace_seconds)

    def _work(self, run_id: str, control: RunControl) -> None:
        report = self.execution.execute(run_id, lambda text: self.notifier.progress(run_id, text), control)
        self.notifier.finished(run_id, report)

    def _hand_back(self, run_id: str) -> None:
        self.store.release_queued_run(run_id, self.owner_id)

    def _beat(self, run_ids: list[str]) -> set[str]:
        return self.store.heartbeat(self.owner_id, run_ids)

    def _take(self, rec: RunRecord) -> None:
        self.executor.submit(rec.id, rec.kube_user or rec.requester_chat_id)

    def _tell_final(self, run_id: str) -> None:
        self.notifier.finished(run_id, self.ledger.report(run_id))


__all__ = ["Decision", "IdentityMapper", "Outcome", "RunNotifier", "RunService", "Ticket"]
