"""Drive runs through the real run service, as a mapped user: request, confirm, execute."""

from __future__ import annotations

from bot.engine.bootstrap import Bot
from bot.engine.identity import IdentityMapper
from bot.engine.workflow import Outcome
from bot.model import Requester
from bot.report import Report, Section, Table
from bot.store import RunRecord


def who(bot: Bot, chat_id: str) -> Requester:
    """The requester a Slack user ID maps to."""
    return IdentityMapper(bot.settings.identity).requester(chat_id)


def plan_text(report: Report | None) -> str:
    """Every title, line, field and table cell of a report, one per line (for assertions)."""
    if report is None:
        return ""
    out = [report.title, report.summary or ""]
    for part in report.parts:
        if isinstance(part, Section):
            out += [part.title or ""] + [f"{k}: {v}" for k, v in part.fields] + part.lines
        elif isinstance(part, Table):
            out += [part.title or ""] + [" | ".join(row) for row in part.rows] + [part.empty]
    return "\n".join(out + report.context)


def planned(bot: Bot, text: str, chat_id: str = "U0ALICE") -> tuple[Outcome, RunRecord]:
    """Request a change; assert it is awaiting confirmation; return the outcome and its record."""
    out = bot.runs.request(text, who(bot, chat_id))
    assert out.ok, plan_text(out.report)
    assert out.pending, plan_text(out.report)
    assert out.run_id
    rec = bot.store.get_run(out.run_id)
    assert rec is not None
    return out, rec


def confirm_and_run(bot: Bot, rec: RunRecord, chat_id: str = "U0ALICE") -> tuple[Report, RunRecord]:
    """Confirm a planned run (no approval needed) and execute it; return the final report and record."""
    decision = bot.runs.confirm(rec.id, rec.plan_hash, who(bot, chat_id))
    assert decision.execute, decision.notice
    report = bot.runs.execute(rec.id)
    final = bot.store.get_run(rec.id)
    assert final is not None
    return report, final


def run_change(bot: Bot, text: str, chat_id: str = "U0ALICE") -> tuple[Outcome, RunRecord]:
    """Request, confirm and execute a change; assert it succeeded; return the plan outcome and final record."""
    out, rec = planned(bot, text, chat_id)
    _, final = confirm_and_run(bot, rec, chat_id)
    assert final.state == "succeeded", final.outcome
    return out, final


def read(bot: Bot, text: str, chat_id: str = "U0ALICE") -> Report:
    """Run a read-only command; assert it ran at once; return its report."""
    out = bot.runs.request(text, who(bot, chat_id))
    assert out.ok, plan_text(out.report)
    assert not out.pending, plan_text(out.report)
    assert out.report is not None
    return out.report
