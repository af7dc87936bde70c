"""The run's one message (posted, then updated in place), ephemeral notices, and the audit channel."""

from __future__ import annotations

import logging
import threading
import time

from bot.health.ports import MessageRef, PostError
from bot.report import Report
from bot.slack.writer import SlackWriter
from bot.store import AuditEvent, RunRecord, Store

log = logging.getLogger("bot.slack")
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
        self._lock = threading.Lock()

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
            if progress and now - self._last.get(run_id, 0.0) < self.min_interval:
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
        line = f"*{event.kind.replace('_', ' ')}* · {event.actor} · {event.summary}"
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
                f"<!here> :rotating_light: *BREAK-GLASS* on {rec.cluster}: {event.summary} (run {rec.id})",
            )
        if event.kind in FINAL_KINDS:
            self.writer.update_text(headline, self._headline(rec, f"{rec.command} → {event.kind}: {event.summary}"))

    @staticmethod
    def _headline(rec: RunRecord, what: str) -> str:
        who = rec.requester_name + (f" ({rec.kube_user})" if rec.kube_user else "")
        return f"[{rec.cluster}] run {rec.id} · {who} · `{rec.command}` · {what}"
