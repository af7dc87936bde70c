"""Render a Report as plain text for a terminal, within its width when one is given.

With a ``width`` (the terminal's), long lines wrap under their indentation and tables shrink
their widest columns until the table fits, wrapping cells inside their column — words stay whole
(``--delete-emptydir-data`` is never split at a hyphen) unless a single word is wider than its
column. Without one (output to a pipe or a file), nothing is wrapped.
"""

from __future__ import annotations

import textwrap

from bot.report import Report, Section, Table, Tone

MARK = {Tone.INFO: "i", Tone.OK: "ok", Tone.WARN: "!", Tone.ERROR: "x"}
GAP = "  "
MIN_COLUMN = 8


def _wrap(text: str, width: int | None, indent: str = "", hanging: str | None = None) -> list[str]:
    """``text`` as lines of at most ``width`` (whole words), first line after ``indent``, others after ``hanging``."""
    if width is None or (len(indent) + len(text) <= width and "\n" not in text):
        return [indent + text]
    out: list[str] = []
    for i, paragraph in enumerate(text.split("\n")):
        first = indent if i == 0 else (indent + "  " if hanging is None else hanging)
        out += textwrap.wrap(
            paragraph,
            width=max(width, len(first) + MIN_COLUMN),
            initial_indent=first,
            subsequent_indent=indent + "  " if hanging is None else hanging,
            break_on_hyphens=False,
        ) or [first.rstrip()]
    return out


def _fit(widths: list[int], available: int) -> list[int]:
    """Column widths that fit ``available`` characters: the widest column gives way first."""
    widths = list(widths)
    room = available - len(GAP) * (len(widths) - 1)
    while sum(widths) > room:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_COLUMN:
            break
        widths[widest] -= 1
    return widths


def _cell_lines(text: str, width: int) -> list[str]:
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width=width, break_on_hyphens=False) or [""]


def _table(t: Table, width: int | None) -> list[str]:
    out = [t.title + ":"] if t.title else []
    if not t.rows:
        return [*out, f"  ({t.empty})"]
    header = [c.upper() for c in t.columns]
    widths = [len(c) for c in header]
    for row in t.rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    if width is not None:
        widths = _fit(widths, width - 2)
    for row in [header, *t.rows]:
        cells = [_cell_lines(c, w) for c, w in zip(row, widths, strict=False)]
        for i in range(max(len(c) for c in cells)):
            parts = [(c[i] if i < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=False)]
            out.append(("  " + GAP.join(parts)).rstrip())
    return out


def _section(s: Section, width: int | None) -> list[str]:
    out = [f"[{MARK[s.tone]}] {s.title}"] if s.title else []
    for k, v in s.fields:
        out += _wrap(f"{k}: {v}", width, "  ", "    ")
    for line in s.lines:
        out += _wrap(line, width, "  ", "    ")
    if s.actions:
        out += _wrap("runbooks: " + "  ".join(f"`{a.value}`" for a in s.actions), width, "  ", "    ")
    return out


def render_text(report: Report, width: int | None = None) -> str:
    """The report as lines of text, at most ``width`` columns wide when given."""
    lines = _wrap(f"[{MARK[report.tone]}] {report.title}", width)
    if report.summary:
        lines += _wrap(report.summary, width, "", "")
    for part in report.parts:
        lines.append("")
        lines += _table(part, width) if isinstance(part, Table) else _section(part, width)
    if report.context:
        lines += ["", *_wrap("-- " + " · ".join(report.context), width, "", "   ")]
    if report.actions:
        lines += _wrap("   options: " + "  ".join(f"[{a.label}]" for a in report.actions), width)
    for attachment in report.attachments:
        lines.append(f"   attached: {attachment.filename} ({len(attachment.content.splitlines())} lines)")
    return "\n".join(lines)
