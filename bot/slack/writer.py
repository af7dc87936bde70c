"""The one place the bot writes to Slack: post, update in place, reply in a thread, ephemeral notice.

Every other Slack module (run messages, the audit channel, alerts and digests) writes through a
``SlackWriter``. It renders ``Report``s as Block Kit (with a plain-text fallback), clips text to
Slack's limits, and turns Slack API failures into ``PostError`` carrying Slack's error code — safe
to log, never a token. It is also the ``AlertPoster`` the health service posts through.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.health.alerting.ports import MessageRef, PostError
from bot.report import Attachment, Report
from bot.slack.blocks import report_blocks, report_fallback_text

TEXT_LIMIT = 3000


def blocks_of(report: Report) -> list[dict[str, Any]]:
    """Block Kit dicts of a report."""
    return [b.to_dict() for b in report_blocks(report)]


def escape(text: str) -> str:
    """Slack's control characters as text: ``<!channel>`` or ``<@U1>`` typed by a person stays literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code of a failed call (``channel_not_found``, ``ratelimited``...)."""
    return str(exc.response.get("error") or "unknown_error")


class SlackWriter:
    """Writes messages through one Web API client; every method raises ``PostError`` on failure."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(self, channel: str, report: Report, *, thread: MessageRef | None = None) -> MessageRef:
        """Post a report (in ``thread`` when given) and return where it lives."""
        return self._post(channel, blocks=blocks_of(report), text=report_fallback_text(report), thread=thread)

    def post_text(
        self, channel: str, text: str, *, thread: MessageRef | None = None, mention_here: bool = False
    ) -> MessageRef:
        """Post a line of text, escaped and clipped; ``mention_here`` prefixes an ``@here`` (break-glass)."""
        line = ("<!here> " if mention_here else "") + escape(text)
        return self._post(channel, text=line[:TEXT_LIMIT], thread=thread)

    def update(self, ref: MessageRef, report: Report) -> None:
        """Replace a message with a report."""
        self._call(
            self.client.chat_update,
            channel=ref.channel,
            ts=ref.ts,
            blocks=blocks_of(report),
            text=report_fallback_text(report),
        )

    def update_text(self, ref: MessageRef, text: str) -> None:
        """Replace a message with a line of text (escaped)."""
        self._call(self.client.chat_update, channel=ref.channel, ts=ref.ts, text=escape(text)[:TEXT_LIMIT])

    def reply(self, ref: MessageRef, text: str, *, broadcast: bool = False) -> None:
        """A reply in the message's thread (``broadcast``: also shown in the channel)."""
        fields: dict[str, Any] = {"reply_broadcast": True} if broadcast else {}
        self._call(
            self.client.chat_postMessage, channel=ref.channel, thread_ts=ref.ts, text=text[:TEXT_LIMIT], **fields
        )

    def notice(self, channel: str, user: str, text: str) -> None:
        """An ephemeral line for one user (a refused click, a stale button), escaped."""
        self._call(self.client.chat_postEphemeral, channel=channel, user=user, text=escape(text)[:TEXT_LIMIT])

    def upload(self, channel: str, item: Attachment, *, thread_ts: str | None = None) -> None:
        """Upload long output (a log) as a file, in a message's thread (files.uploadV2's three calls)."""
        self._call(
            self.client.files_upload_v2,
            channel=channel,
            thread_ts=thread_ts,
            content=item.content,
            filename=item.filename,
            title=item.title or item.filename,
        )

    def _post(self, channel: str, *, thread: MessageRef | None, **fields: Any) -> MessageRef:
        if thread is not None:
            fields["thread_ts"] = thread.ts
        resp = self._call(self.client.chat_postMessage, channel=channel, **fields)
        return MessageRef(str(resp["channel"]), str(resp["ts"]))

    @staticmethod
    def _call(method: Any, **fields: Any) -> Any:
        try:
            return method(**fields)
        except SlackApiError as exc:
            raise PostError(slack_error(exc)) from None
