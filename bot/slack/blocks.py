"""Render a Report as Block Kit, within Slack's limits.

Limits respected: 50 blocks per message, 3000 characters per section text, 150 per header,
10 fields per section (2000 chars each); what does not fit is cut with "… and N more".
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.report import Action, Report, Section, Table, Tone

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
MAX_FIELDS = 10
MAX_FIELD = 2000
ICON = {Tone.INFO: ":information_source:", Tone.OK: ":white_check_mark:", Tone.WARN: ":warning:", Tone.ERROR: ":x:"}


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lines_text(lines: list[str], limit: int = MAX_TEXT) -> str:
    """Join lines, stopping before ``limit`` with an "and N more" line."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        more = f"… and {len(lines) - i} more"
        if used + len(line) + 1 > limit - len(more) - 1:
            out.append(more)
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)


def _table_lines(t: Table) -> list[str]:
    if not t.rows:
        return [f"_{escape(t.empty)}_"]
    widths = [len(c) for c in t.columns]
    rows = [[clip(escape(c), 60) for c in row] for row in t.rows]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    header = "  ".join(c.ljust(w) for c, w in zip(t.columns, widths, strict=False)).rstrip()
    body = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    return [header, *body]


def _table_blocks(t: Table) -> list[Block]:
    blocks: list[Block] = []
    if t.title:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip(f"*{escape(t.title)}*", MAX_TEXT))))
    lines = _table_lines(t)
    if not t.rows:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=lines[0])))
        return blocks
    # A code block keeps columns aligned; the fence takes 6 characters.
    header, body = lines[0], lines[1:]
    text = _lines_text([header, *body], MAX_TEXT - 8)
    blocks.append(SectionBlock(text=MarkdownTextObject(text=f"```{text}```")))
    return blocks


def _section_blocks(s: Section) -> list[Block]:
    blocks: list[Block] = []
    title = f"{ICON[s.tone]} *{escape(s.title)}*" if s.title else None
    fields = [MarkdownTextObject(text=clip(f"*{escape(k)}*\n{escape(v)}", MAX_FIELD)) for k, v in s.fields[:MAX_FIELDS]]
    if title or fields:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=title) if title else None, fields=fields or None))
    if s.lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_lines_text([escape(x) for x in s.lines]))))
    if s.actions:
        blocks.append(_buttons(s.actions))
    return blocks


def _buttons(actions: list[Action]) -> ActionsBlock:
    """One row of buttons (Slack allows 25 per actions block; action ids are unique per block)."""
    return ActionsBlock(
        elements=[
            ButtonElement(
                text=PlainTextObject(text=a.label[:75]), action_id=f"rb_{a.kind}", value=a.value[:2000], style=a.style
            )
            for a in actions[:25]
        ]
    )


def report_blocks(report: Report) -> list[Block]:
    """The Block Kit blocks of ``report``, at most 50."""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=clip(report.title, MAX_HEADER)))]
    if report.summary:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=clip(f"{ICON[report.tone]} {escape(report.summary)}", MAX_TEXT)))
        )
    for part in report.parts:
        blocks.append(DividerBlock())
        blocks.extend(_table_blocks(part) if isinstance(part, Table) else _section_blocks(part))
    if report.context:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=clip(escape(" · ".join(report.context)), MAX_TEXT))])
        )
    limit = MAX_BLOCKS - (1 if report.actions else 0)
    if len(blocks) > limit:
        dropped = len(blocks) - (limit - 1)
        more = ContextBlock(
            elements=[MarkdownTextObject(text=f"… and {dropped} more blocks; the full output is in the thread")]
        )
        blocks = [*blocks[: limit - 1], more]
    if report.actions:
        blocks.append(_buttons(report.actions))
    return blocks


def report_fallback_text(report: Report) -> str:
    """Plain text for notifications and clients that cannot show blocks."""
    return clip(report.title + (f" — {report.summary}" if report.summary else ""), 3000)
