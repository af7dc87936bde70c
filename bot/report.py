"""A surface-neutral document: what a runbook tells its user.

Steps produce a ``Report``; each surface renders it once (Block Kit for Slack, plain text for
the shell). Keeping the content structured lets each renderer respect its own limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Tone(StrEnum):
    """How a report or line should read: neutral, good news, a warning or a failure."""

    INFO = "info"
    OK = "ok"
    WARN = "warn"
    ERROR = "error"


@dataclass
class Section:
    """A titled group of lines, optionally with short ``key: value`` fields first."""

    title: str | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    tone: Tone = Tone.INFO


@dataclass
class Table:
    """A small table; renderers show as many rows as fit and say how many were left out."""

    columns: list[str]
    rows: list[list[str]]
    title: str | None = None
    empty: str = "nothing to show"


@dataclass
class Report:
    """What a run tells its user: a title, sections and tables, and a footer context line."""

    title: str
    tone: Tone = Tone.INFO
    summary: str | None = None
    parts: list[Section | Table] = field(default_factory=list)
    context: list[str] = field(default_factory=list)

    def section(self, title: str | None = None, *, tone: Tone = Tone.INFO) -> Section:
        """Append and return a new section."""
        s = Section(title=title, tone=tone)
        self.parts.append(s)
        return s

    def table(
        self, columns: list[str], rows: list[list[str]], *, title: str | None = None, empty: str = "nothing to show"
    ) -> Table:
        """Append and return a new table."""
        t = Table(columns=columns, rows=rows, title=title, empty=empty)
        self.parts.append(t)
        return t
