"""The run's one message (posted, then updated in place), ephemeral notices, and the audit channel.

``RunMessages`` is the Slack ``RunNotifier``: progress updates are throttled (a line that comes too
soon is held and the latest held line is sent once the interval has passed, so the message always
ends up showing the newest progress — a canary progression posts one line per stage) and dropped
once the run has ended; the final update is retried with backoff until Slack takes it, so a message is
never left showing "Running" with an Abort button after the run ended.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from bot.health.alerting.ports import MessageRef, PostError
from bot.report import Attachment, Report
from bot.slack.writer import SlackWriter
from bot.store import AuditEvent, RunRecord, Store
from bot.store.actor_names import actor_label, actor_names

log = logging.getLogger("bot.slack")
FINAL_ATTEMPTS = 6
FINAL_FIRST_DELAY = 1.0
FINISHED_REMEMBERED = 1000
FINAL_KINDS = frozenset(
    {
        "succeeded",
        "failed",
        "denied",
        "cancelled",
        "expired",
        "interrupted",
        "replan_required",
        "rbac_denied",
        "aborted",
    }
)


class RunMessages:
    """The run's single message: posted once, then updated in place (throttled for progress)."""

    def __init__(self, writer: SlackWriter, store: Store, min_interval: float = 1.5) -> None:
        self.writer = writer
        self.store = store
        self.min_interval = min_interval
        self._last: dict[str, float] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._held: dict[str, str] = {}  # run id → the newest progress line that came too soon
        self._lock = threading.Lock()
        self._report_for: Callable[[str, list[str]], Report] | None = None

    def bind(self, report_for: Callable[[str, list[str]], Report]) -> RunMessages:
        """Use ``report_for(run_id, extra_lines)`` to render progress (the run service's renderer)."""
        self._report_for = report_for
        return self

    # -- RunNotifier --------------------------------------------------------------------------------
    def progress(self, run_id: str, text: str) -> None:
        """A progress line: the run's message with it (throttled; ignored once the run has ended)."""
        if self._report_for is None:
            return
        with self._lock:
            if run_id in self._finished:
                return
            wait = self.min_interval - (time.monotonic() - self._last.get(run_id, 0.0))
            if wait > 0:  # too soon: hold the newest line and send it when the interval has passed
                first = run_id not in self._held
                self._held[run_id] = text
                if first:
                    timer = threading.Timer(wait, self._send_held, args=(run_id,))
                    timer.daemon = True
                    timer.start()
                return
        self.update(run_id, self._report_for(run_id, [text]), progress=True)

    def _send_held(self, run_id: str) -> None:
        """Send the newest held progress line, unless the run has ended meanwhile."""
        with self._lock:
            text = self._held.pop(run_id, None)
            if text is None or run_id in self._finished or self._report_for is None:
                return
            self._last[run_id] = time.monotonic()
        self.update(run_id, self._report_for(run_id, [text]))

    def finished(self, run_id: str, report: Report) -> None:
        """The run ended: its final message (retried until Slack takes it) and the outcome in its thread."""
        with self._lock:
            self._finished[run_id] = None
            while len(self._finished) > FINISHED_REMEMBERED:
                self._finished.popitem(last=False)
        ref = self._ref(run_id)
        if ref is None:
            return
        delay = FINAL_FIRST_DELAY
        for attempt in range(1, FINAL_ATTEMPTS + 1):
            try:
                self.writer.update(ref, report)
                break
            except PostError as exc:
                log.warning("final run message not taken; retrying", extra={"error": exc.reason, "attempt": attempt})
                if attempt == FINAL_ATTEMPTS:
                    log.error("final run message could not be posted", extra={"run_id": run_id})
                    return
                time.sleep(delay)
                delay *= 2
        rec = self.store.get_run(run_id)
        if rec is not None and rec.outcome:
            self.thread(run_id, f"{rec.state}: {rec.outcome}")

    def post(self, run_id: str, channel: str, report: Report) -> None:
        """Post the run's message and remember where it is (PostError when Slack refuses)."""
        ref = self.writer.post(channel, report)
        self.store.update_run(run_id, channel=ref.channel, message_ts=ref.ts)

    def _ref(self, run_id: str) -> MessageRef | None:
        rec = self.store.get_run(run_id)
        if rec is None or not rec.channel or not rec.message_ts:
            return None
        return MessageRef(rec.channel, rec.message_ts)

    def update(self, run_id: str, report: Report, *, progress: bool = False) -> None:
        """Replace the run's message with ``report`` (progress updates at most every ``min_interval``)."""
        ref = self._ref(run_id)
        if ref is None:
            return
        now = time.monotonic()
        with self._lock:
            if progress and (now - self._last.get(run_id, 0.0) < self.min_interval or run_id in self._finished):
                return
            self._last[run_id] = now
        try:
            self.writer.update(ref, report)
        except PostError as exc:
            log.warning("cannot update the run message", extra={"run_id": run_id, "error": exc.reason})

    def thread(self, run_id: str, text: str) -> None:
        """A reply in the run message's thread (details that do not belong in the summary)."""
        ref = self._ref(run_id)
        if ref is None:
            return
        try:
            self.writer.reply(ref, text)
        except PostError as exc:
            log.warning("cannot post to the run thread", extra={"run_id": run_id, "error": exc.reason})

    def attach(self, channel: str, attachments: list[Attachment], thread_ts: str | None = None) -> None:
        """Upload long output (a log) as files, in the message's thread (files.uploadV2's three calls)."""
        for item in attachments:
            try:
                self.writer.upload(channel, item, thread_ts=thread_ts)
            except PostError as exc:
                log.warning("cannot upload a file", extra={"file": item.filename, "error": exc.reason})

    def notice(self, channel: str, user: str, text: str) -> None:
        """An ephemeral line for one user (a refused click, a stale button)."""
        try:
            self.writer.notice(channel, user, text)
        except PostError as exc:
            log.warning("cannot post a notice", extra={"error": exc.reason})


class AuditChannel:
    """Posts the audit trail: one message per run (updated with its outcome), events in its thread."""

    def __init__(self, writer: SlackWriter, store: Store, channel: str | None) -> None:
        self.writer = writer
        self.store = store
        self.channel = channel

    def __call__(self, rec: RunRecord | None, event: AuditEvent) -> None:
        """Audit sink for the run service."""
        if not self.channel or rec is None or rec.risk == "read":
            return
        actor = actor_label(actor_names(self.store, [rec.id]), event.actor)
        line = f"*{event.kind.replace('_', ' ')}* · {actor} · {event.summary}"
        if event.kind == "requested" or not rec.audit_ts:
            ref = self.writer.post_text(self.channel, self._headline(rec, event.summary))
            self.store.update_run(rec.id, audit_ts=ref.ts)
            if event.kind == "requested":
                return
            rec = self.store.get_run(rec.id) or rec
        assert rec.audit_ts is not None
        headline = MessageRef(self.channel, rec.audit_ts)
        self.writer.post_text(self.channel, line, thread=headline)
        if event.kind == "break_glass":
            self.writer.post_text(
                self.channel,
                f":rotating_light: *BREAK-GLASS* on {rec.cluster}: {event.summary} (run {rec.id})",
                mention_here=True,
            )
        if event.kind in FINAL_KINDS:
            self.writer.update_text(headline, self._headline(rec, f"{rec.command} → {event.kind}: {event.summary}"))

    @staticmethod
    def _headline(rec: RunRecord, what: str) -> str:
        who = rec.requester_name + (f" ({rec.kube_user})" if rec.kube_user else "")
        return f"[{rec.cluster}] run {rec.id} · {who} · `{rec.command}` · {what}"
