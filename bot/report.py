"""A surface-neutral document: what a runbook tells its user.

Steps produce a ``Report``; each surface renders it once (Block Kit for Slack, plain text for
the shell). Keeping the content structured lets each renderer respect its own limits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Tone(StrEnum):
    """How a report or line should read: neutral, good news, a warning or a failure."""

    INFO = "info"
    OK = "ok"
    WARN = "warn"
    ERROR = "error"


@dataclass
class Action:
    """A button (Slack) or prompt (shell): ``kind`` names the decision, ``value`` what it binds to."""

    kind: str
    label: str
    value: str
    style: str | None = None  # "primary" | "danger" | None


@dataclass
class Section:
    """A titled group of lines, optionally with short ``key: value`` fields first and buttons after."""

    title: str | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    tone: Tone = Tone.INFO
    actions: list[Action] = field(default_factory=list)


@dataclass
class Attachment:
    """Output too long for a message (a log): Slack uploads it as a file, the shell saves it."""

    filename: str
    content: str
    title: str = ""


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
    actions: list[Action] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

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


def report_to_dict(report: Report) -> dict[str, Any]:
    """A JSON-safe form of ``report`` (to store the plan a user confirmed)."""
    doc = asdict(report)
    doc["parts"] = [{"type": "table" if isinstance(p, Table) else "section", **asdict(p)} for p in report.parts]
    return doc


def report_from_dict(doc: dict[str, Any]) -> Report:
    """Rebuild a report stored with ``report_to_dict``."""
    parts: list[Section | Table] = []
    for p in doc.get("parts", []):
        p = dict(p)
        kind = p.pop("type", "section")
        if kind == "table":
            parts.append(Table(**p))
        else:
            p["fields"] = [tuple(f) for f in p.get("fields", [])]
            p["tone"] = Tone(p.get("tone", "info"))
            p["actions"] = [Action(**a) for a in p.get("actions", [])]
            parts.append(Section(**p))
    return Report(
        title=doc["title"],
        tone=Tone(doc.get("tone", "info")),
        summary=doc.get("summary"),
        parts=parts,
        context=list(doc.get("context", [])),
        actions=[Action(**a) for a in doc.get("actions", [])],
        attachments=[Attachment(**a) for a in doc.get("attachments", [])],
    )
