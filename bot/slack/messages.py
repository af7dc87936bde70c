"""Posting and updating the run's one message, ephemeral notices, and the audit channel."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.report import Attachment, Report
from bot.slack.blocks import report_blocks, report_fallback_text
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


def blocks_of(report: Report) -> list[dict[str, Any]]:
    """Block Kit dicts of a report."""
    return [b.to_dict() for b in report_blocks(report)]


class RunMessages:
    """The run's single message: posted once, then updated in place (throttled for progress)."""

    def __init__(self, client: WebClient, store: Store, min_interval: float = 1.5) -> None:
        self.client = client
        self.store = store
        self.min_interval = min_interval
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def post(self, run_id: str, channel: str, report: Report) -> None:
        """Post the run's message and remember where it is."""
        resp = self.client.chat_postMessage(
            channel=channel, blocks=blocks_of(report), text=report_fallback_text(report)
        )
        self.store.update_run(run_id, channel=resp["channel"], message_ts=resp["ts"])

    def update(self, run_id: str, report: Report, *, progress: bool = False) -> None:
        """Replace the run's message with ``report`` (progress updates at most every ``min_interval``)."""
        rec = self.store.get_run(run_id)
        if rec is None or not rec.channel or not rec.message_ts:
            return
        now = time.monotonic()
        with self._lock:
            if progress and now - self._last.get(run_id, 0.0) < self.min_interval:
                return
            self._last[run_id] = now
        try:
            self.client.chat_update(
                channel=rec.channel, ts=rec.message_ts, blocks=blocks_of(report), text=report_fallback_text(report)
            )
        except SlackApiError as exc:
            log.warning("cannot update the run message", extra={"run_id": run_id, "error": exc.response.get("error")})

    def thread(self, run_id: str, text: str) -> None:
        """A reply in the run message's thread (details that do not belong in the summary)."""
        rec = self.store.get_run(run_id)
        if rec is None or not rec.channel or not rec.message_ts:
            return
        try:
            self.client.chat_postMessage(channel=rec.channel, thread_ts=rec.message_ts, text=text[:3000])
        except SlackApiError as exc:
            log.warning("cannot post to the run thread", extra={"run_id": run_id, "error": exc.response.get("error")})

    def attach(self, channel: str, attachments: list[Attachment], thread_ts: str | None = None) -> None:
        """Upload long output (a log) as files, in the message's thread (files.uploadV2's three calls)."""
        for item in attachments:
            try:
                self.client.files_upload_v2(
                    channel=channel,
                    thread_ts=thread_ts,
                    content=item.content,
                    filename=item.filename,
                    title=item.title or item.filename,
                )
            except SlackApiError as exc:
                log.warning("cannot upload a file", extra={"file": item.filename, "error": exc.response.get("error")})

    def notice(self, channel: str, user: str, text: str) -> None:
        """An ephemeral line for one user (a refused click, a stale button)."""
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text)
        except SlackApiError as exc:
            log.warning("cannot post a notice", extra={"error": exc.response.get("error")})


class AuditChannel:
    """Posts the audit trail: one message per run (updated with its outcome), events in its thread."""

    def __init__(self, client: WebClient, store: Store, channel: str | None) -> None:
        self.client = client
        self.store = store
        self.channel = channel

    def __call__(self, rec: RunRecord | None, event: AuditEvent) -> None:
        """Audit sink for the run service."""
        if not self.channel or rec is None or rec.risk == "read":
            return
        line = f"*{event.kind.replace('_', ' ')}* · {event.actor} · {event.summary}"
        if event.kind == "requested" or not rec.audit_ts:
            resp = self.client.chat_postMessage(channel=self.channel, text=self._headline(rec, event.summary))
            self.store.update_run(rec.id, audit_ts=resp["ts"])
            if event.kind == "requested":
                return
            rec = self.store.get_run(rec.id) or rec
        self.client.chat_postMessage(channel=self.channel, thread_ts=rec.audit_ts, text=line)
        if event.kind == "break_glass":
            self.client.chat_postMessage(
                channel=self.channel,
                text=f"<!here> :rotating_light: *BREAK-GLASS* on {rec.cluster}: {event.summary} (run {rec.id})",
            )
        if event.kind in FINAL_KINDS and rec.audit_ts:
            self.client.chat_update(
                channel=self.channel,
                ts=rec.audit_ts,
                text=self._headline(rec, f"{rec.command} → {event.kind}: {event.summary}"),
            )

    @staticmethod
    def _headline(rec: RunRecord, what: str) -> str:
        who = rec.requester_name + (f" ({rec.kube_user})" if rec.kube_user else "")
        return f"[{rec.cluster}] run {rec.id} · {who} · `{rec.command}` · {what}"[:3000]
