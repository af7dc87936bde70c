"""What the health package needs from a chat surface, as protocols (bot.health stays surface-neutral).

``bot.slack.writer.SlackWriter`` implements ``AlertPoster`` for Slack; tests and other
surfaces may bring their own. ``Leadership`` is what the scheduler asks before acting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.report import Report


@dataclass(frozen=True)
class MessageRef:
    """Where a posted message lives (Slack: channel ID and message ts)."""

    channel: str
    ts: str


class PostError(Exception):
    """The surface could not post or update a message; ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AlertPoster(Protocol):
    """Posts alert and digest messages, updates them in place, and replies in their thread."""

    def post(self, channel: str, report: Report) -> MessageRef:
        """Post a new message; raises PostError."""
        ...

    def update(self, ref: MessageRef, report: Report) -> None:
        """Replace a posted message's content; raises PostError."""
        ...

    def reply(self, ref: MessageRef, text: str, *, broadcast: bool = False) -> None:
        """A reply in the message's thread (``broadcast``: also shown in the channel); raises PostError."""
        ...


class Leadership(Protocol):
    """Whether this replica may run the scheduled work now."""

    def is_leader(self) -> bool:
        """True while this replica leads."""
        ...


class AlwaysLeader:
    """Leadership for a single replica (leader election disabled)."""

    def is_leader(self) -> bool:
        """Always True."""
        return True
