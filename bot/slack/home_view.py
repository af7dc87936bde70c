"""The App Home tab as Block Kit: approvals waiting for you, your runs, recent ends, firing alerts.

The buttons are the run message's own (``rb_approve``, ``rb_deny``, ``rb_cancel``, ``rb_abort``,
value ``<run id>:<plan hash>``) and the alert message's (``rb_alert_ack``, ``rb_alert_silence_*``),
so a click from Home takes exactly the path a click on the message takes. A view holds at most
100 blocks; every list is cut with "… and N more".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

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
from slack_sdk.models.views import View

from bot.durations import human_duration
from bot.engine.inbox import Inbox, PendingApproval
from bot.engine.plans import STATE_WORDS
from bot.health.alerting.alert_messages import SILENCES, title_of
from bot.slack.blocks import MAX_TEXT, clip, escape
from bot.store import AlertRecord, RunRecord, RunState

HOME_CALLBACK = "rb_home"
MAX_VIEW_BLOCKS = 100
MAX_PENDING = 12  # 3 blocks each
MAX_MINE = 10  # 2 blocks each
MAX_ALERTS = 10  # 2 blocks each
MAX_STEP_LINES = 4
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass
class HomeContent:
    """Everything one person's Home shows; ``unmapped`` replaces it all when they map to no one."""

    who: str
    now: datetime
    inbox: Inbox = field(default_factory=Inbox)
    alerts: list[AlertRecord] = field(default_factory=list)  # firing, on clusters whose alerts they may act on
    notice: str | None = None
    unmapped: str | None = None


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(text, MAX_TEXT))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[_md(text)])


def _button(action_id: str, label: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=PlainTextObject(text=label), action_id=action_id, value=value[:2000], style=style)


def _hm(at: datetime | None) -> str:
    return f"{at:%H:%M} UTC" if at else "?"


def _where(rec: RunRecord) -> str:
    channel = f" · message in <#{rec.channel}>" if rec.channel and rec.channel[:1] in "CGD" else ""
    return f"run `{rec.id}`{channel}"


def _requested_by(rec: RunRecord) -> str:
    return escape(rec.requester_name + (f" ({rec.kube_user})" if rec.kube_user else ""))


def _pending_blocks(item: PendingApproval, now: datetime) -> list[Block]:
    rec = item.run
    head = (
        f"*`{escape(rec.command)}`* on *{escape(rec.cluster)}* ({escape(rec.risk)})\n"
        f"requested by {_requested_by(rec)} · {item.approved} of {rec.approvals_required} approval(s) · "
        f"expires {_hm(rec.expires_at)}"
    )
    steps = [escape(str(line)) for line in (rec.plan.get("step_lines") or [])][:MAX_STEP_LINES]
    blocks: list[Block] = [SectionBlock(text=_md(head + ("\n" + "\n".join(f"• {s}" for s in steps) if steps else "")))]
    value = f"{rec.id}:{rec.plan_hash}"
    blocks.append(
        ActionsBlock(
            block_id=f"home_pending_{rec.id}",
            elements=[
                _button("rb_approve", "Approve", value, "primary"),
                _button("rb_deny", "Deny", value, "danger"),
            ],
        )
    )
    blocks.append(_context(_where(rec)))
    return blocks


def _mine_blocks(rec: RunRecord, now: datetime) -> list[Block]:
    word = STATE_WORDS[RunState(rec.state)][0]
    since = rec.started_at or rec.created_at
    ago = f" · {human_duration(now - since)} ago" if since else ""
    text = f"*{word}*: `{escape(rec.command)}` on *{escape(rec.cluster)}*{ago}\n{_where(rec)}"
    if rec.state == RunState.AWAITING_CONFIRMATION:
        text += " · confirm it on the message"
    elif rec.state == RunState.AWAITING_APPROVAL:
        text += f" · needs {rec.approvals_required} approval(s), expires {_hm(rec.expires_at)}"
    value = f"{rec.id}:{rec.plan_hash}"
    buttons: list[ButtonElement] = []
    if rec.state in (RunState.QUEUED, RunState.RUNNING) and rec.risk != "read":
        buttons = [_button("rb_abort", "Abort", value, "danger")]
    elif rec.state in (RunState.AWAITING_CONFIRMATION, RunState.AWAITING_APPROVAL):
        buttons = [_button("rb_cancel", "Cancel request", value)]
    blocks: list[Block] = [SectionBlock(text=_md(text))]
    if buttons:
        blocks.append(ActionsBlock(block_id=f"home_mine_{rec.id}", elements=buttons))
    return blocks


def _alert_blocks(alert: AlertRecord, now: datetime) -> list[Block]:
    state = ["acked by " + escape(alert.acked_by)] if alert.acked_by else []
    if alert.silenced(now):
        state.append(f"silenced until {_hm(alert.silenced_until)}")
    head = (
        f"*[{escape(alert.severity)}] {escape(title_of(alert))}* · since {human_duration(now - alert.since)}\n"
        f"{escape(alert.summary)}" + (f"\n_{' · '.join(state)}_" if state else "")
    )
    buttons = [] if alert.acked_by else [_button("rb_alert_ack", "Ack", f"{alert.id}:ack")]
    buttons += [_button(f"rb_alert_silence_{k}", f"Silence {k}", f"{alert.id}:{k}") for k in SILENCES]
    return [SectionBlock(text=_md(head)), ActionsBlock(block_id=f"home_alert_{alert.id}", elements=buttons)]


def _more(shown: int, total: int, what: str) -> list[Block]:
    return [_context(f"… and {total - shown} more {what}")] if total > shown else []


def _section(title: str) -> list[Block]:
    return [DividerBlock(), HeaderBlock(text=PlainTextObject(text=title[:150]))]


def _approvals_part(content: HomeContent) -> list[Block]:
    inbox, now = content.inbox, content.now
    blocks = _section(f"Waiting for your approval ({len(inbox.pending)})")
    if not inbox.pending:
        blocks.append(_context("Nothing waits for your approval."))
    for item in inbox.pending[:MAX_PENDING]:
        blocks += _pending_blocks(item, now)
    blocks += _more(min(len(inbox.pending), MAX_PENDING), len(inbox.pending), "awaiting your approval")
    lines = [
        f"`{escape(p.run.command)}` on {escape(p.run.cluster)} by {_requested_by(p.run)}: {escape(p.refusal or '')}"
        for p in inbox.blocked
    ]
    if inbox.not_checked:
        lines.append(f"{inbox.not_checked} more request(s) were not checked; open Home again later")
    if lines:
        blocks.append(_context(clip("\n".join(lines), MAX_TEXT)))
    return blocks


def _runs_part(content: HomeContent) -> list[Block]:
    inbox, now = content.inbox, content.now
    blocks = _section("Your runs")
    if not inbox.mine:
        blocks.append(_context("You have no run waiting or in progress."))
    for rec in inbox.mine[:MAX_MINE]:
        blocks += _mine_blocks(rec, now)
    blocks += _more(min(len(inbox.mine), MAX_MINE), len(inbox.mine), "of your runs")
    if inbox.recent:
        lines = []
        for rec in inbox.recent:
            word = STATE_WORDS[RunState(rec.state)][0]
            outcome = f" — {escape(clip(rec.outcome, 160))}" if rec.outcome else ""
            lines.append(
                f"*{word}* `{escape(rec.command)}` on {escape(rec.cluster)} at {_hm(rec.finished_at)}{outcome}"
            )
        blocks.append(SectionBlock(text=_md("*Recently finished*\n" + "\n".join(lines))))
    return blocks


def _alerts_part(content: HomeContent) -> list[Block]:
    blocks = _section(f"Firing alerts ({len(content.alerts)})")
    if not content.alerts:
        blocks.append(_context("No alert is firing on the clusters whose alerts you may act on."))
    ordered = sorted(content.alerts, key=lambda a: (SEVERITY_ORDER.get(a.severity, 3), a.since))
    for alert in ordered[:MAX_ALERTS]:
        blocks += _alert_blocks(alert, content.now)
    blocks += _more(min(len(ordered), MAX_ALERTS), len(ordered), "firing alerts")
    return blocks


def home_blocks(content: HomeContent) -> list[Block]:
    """The blocks of one person's Home, at most 100."""
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="Kubernetes runbooks")),
        _context(f"{escape(content.who)} · updated {content.now:%Y-%m-%d %H:%M} UTC"),
    ]
    if content.notice:
        blocks.append(SectionBlock(text=_md(f":information_source: {escape(content.notice)}")))
    if content.unmapped:
        blocks.append(SectionBlock(text=_md(f":x: {escape(content.unmapped)}")))
        return blocks
    blocks += _approvals_part(content) + _runs_part(content) + _alerts_part(content)
    if len(blocks) > MAX_VIEW_BLOCKS:
        dropped = len(blocks) - (MAX_VIEW_BLOCKS - 1)
        blocks = [*blocks[: MAX_VIEW_BLOCKS - 1], _context(f"… and {dropped} more blocks")]
    return blocks


def home_view(content: HomeContent) -> View:
    """The ``home`` view to publish (validated by slack_sdk's models)."""
    view = View(type="home", callback_id=HOME_CALLBACK, blocks=home_blocks(content))
    view.validate_json()
    return view


def shown_runs(content: HomeContent) -> Sequence[str]:
    """The run ids the view shows (a later change to one of them republishes it)."""
    return sorted(content.inbox.run_ids)
