"""Render a Report as plain text for a terminal."""

from __future__ import annotations

from bot.report import Report, Section, Table, Tone

MARK = {Tone.INFO: "i", Tone.OK: "ok", Tone.WARN: "!", Tone.ERROR: "x"}


def _table(t: Table) -> list[str]:
    out = [t.title + ":"] if t.title else []
    if not t.rows:
        return [*out, f"  ({t.empty})"]
    widths = [len(c) for c in t.columns]
    for row in t.rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out.append("  " + fmt.format(*[c.upper() for c in t.columns]).rstrip())
    out += ["  " + fmt.format(*row).rstrip() for row in t.rows]
    return out


def _section(s: Section) -> list[str]:
    out = [f"[{MARK[s.tone]}] {s.title}"] if s.title else []
    out += [f"  {k}: {v}" for k, v in s.fields]
    out += [f"  {line}" for line in s.lines]
    if s.actions:
        out.append("  runbooks: " + "  ".join(f"`{a.value}`" for a in s.actions))
    return out


def render_text(report: Report) -> str:
    """The report as lines of text."""
    lines = [f"[{MARK[report.tone]}] {report.title}"]
    if report.summary:
        lines.append(report.summary)
    for part in report.parts:
        lines.append("")
        lines += _table(part) if isinstance(part, Table) else _section(part)
    if report.context:
        lines += ["", "-- " + " · ".join(report.context)]
    if report.actions:
        lines.append("   options: " + "  ".join(f"[{a.label}]" for a in report.actions))
    for attachment in report.attachments:
        lines.append(f"   attached: {attachment.filename} ({len(attachment.content.splitlines())} lines)")
    return "\n".join(lines)
