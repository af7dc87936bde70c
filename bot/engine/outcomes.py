"""A finished run told briefly: how it ended and what it changed — not the whole plan again.

The plan was shown (and confirmed) before the run; at the end a reader wants the outcome, what
was done (each step's own account where it keeps one, e.g. "evicted 12 of 12 pods from node n1",
else the step itself), what was not, who approved and how long it took. The shell prints this
after a run; the run's Slack message keeps the plan with its status, as its one message.
"""

from __future__ import annotations

from bot.engine.plans import STATE_WORDS
from bot.report import Report, Tone
from bot.steps.artifacts import RunArtifacts
from bot.steps.base import StepAccount, step_key
from bot.store import RunRecord, RunState, Store


def _changes(store: Store, rec: RunRecord) -> tuple[list[str], list[str]]:
    """(done, not done): each finished step's own account (or its description), and the steps not finished."""
    lines: list[str] = list(rec.plan.get("step_lines") or [])
    finished = {
        e.detail.get("step") for e in store.audit_events(run_id=rec.id, limit=1000) if e.kind == "step_finished"
    }
    artifacts = RunArtifacts(rec.id, store)
    done: list[str] = []
    not_done: list[str] = []
    for index, line in enumerate(lines, 1):
        own = artifacts.get(StepAccount, step_key(index))
        if index in finished:
            done += own.done if own is not None and own.done else [line]
        elif own is not None:
            done += own.done
            not_done += own.not_done or [line]
        else:
            not_done.append(line)
    return done, not_done


def outcome_report(store: Store, rec: RunRecord) -> Report:
    """The end of ``rec``: its state and outcome, what changed, who approved, the duration."""
    word, tone = STATE_WORDS[RunState(rec.state)]
    report = Report(
        title=f"{word}: {rec.runbook} on {rec.cluster}",
        tone=Tone.OK if rec.state == RunState.SUCCEEDED else tone,
        summary=rec.outcome or None,
    )
    if rec.state == RunState.SUCCEEDED:
        done, not_done = _changes(store, rec)
        if done:
            report.section("What changed").lines = done
        if not_done:
            report.section("Not done", tone=Tone.WARN).lines = not_done
    facts = report.section()
    approvers = [a.approver_name for a in store.approvals(rec.id) if a.decision == "approve"]
    if approvers:
        facts.fields.append(("Approved by", ", ".join(approvers)))
    if rec.break_glass_reason:
        facts.fields.append(("Break-glass", rec.break_glass_reason))
    if rec.started_at and rec.finished_at:
        facts.fields.append(("Duration", f"{(rec.finished_at - rec.started_at).total_seconds():.1f}s"))
    if not facts.fields:
        report.parts.remove(facts)
    report.context.append(f"run {rec.id} · `audit --run {rec.id}` lists every event")
    return report
