"""What users see of a run: its plan, its approval request, its progress and its outcome."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config.settings import ApprovalRule
from bot.durations import clock_time
from bot.engine.approval_text import approval_line
from bot.engine.engine import PreparedRun
from bot.model import Requester
from bot.report import Action, Report, Tone, report_from_dict
from bot.steps.artifacts import RunHold
from bot.store import ApprovalRecord, RunRecord, RunState

STATE_WORDS: dict[RunState, tuple[str, Tone]] = {
    RunState.PLANNED: ("Planning", Tone.INFO),
    RunState.AWAITING_CONFIRMATION: ("Plan", Tone.INFO),
    RunState.AWAITING_APPROVAL: ("Awaiting approval", Tone.WARN),
    RunState.QUEUED: ("Starting", Tone.INFO),
    RunState.RUNNING: ("Running", Tone.INFO),
    RunState.SUCCEEDED: ("Done", Tone.OK),
    RunState.FAILED: ("Failed", Tone.ERROR),
    RunState.CANCELLED: ("Cancelled", Tone.INFO),
    RunState.DENIED: ("Denied", Tone.ERROR),
    RunState.EXPIRED: ("Expired", Tone.WARN),
    RunState.INTERRUPTED: ("Interrupted", Tone.ERROR),
    RunState.ABORTING: ("Aborting", Tone.WARN),
    RunState.ABORTED: ("Aborted", Tone.WARN),
    RunState.REPLAN_REQUIRED: ("Plan changed — not run", Tone.WARN),
}


def requested_by(requester: Requester) -> str:
    """``Alice Doe as alice (groups: oncall, sre)``; without a known display name, the Kubernetes identity alone."""
    if requester.kube_user is not None and requester.display_name == requester.chat_id:
        return requester.describe()  # no profile name to show (the shell's --as, a failed users.info)
    return f"{requester.display_name} as {requester.describe()}"


def plan_report(run: PreparedRun, rule: ApprovalRule) -> Report:
    """The plan a requester confirms and an approver approves (stored with the run)."""
    who = requested_by(run.requester)
    report = Report(
        title=f"{run.runbook.name} on {run.cluster}",
        summary=f"`{run.runbook.name}` ({run.risk}) requested by {who}",
    )
    steps = report.section("Steps")
    steps.lines = [f"{i}. {s.plan.description}" for i, s in enumerate(run.steps, 1)]
    for s in run.steps:
        steps.lines += [f"    {d}" for d in s.plan.details]
    warnings = [w for s in run.steps for w in s.plan.warnings]
    if warnings:
        report.section("Warnings", tone=Tone.WARN).lines = warnings
    targets = [str(t) for s in run.steps for t in s.plan.targets]
    if targets:
        report.section("Touches").lines = list(dict.fromkeys(targets))
    if run.permissions:
        report.section("Needs (checked against your RBAC)").lines = [p.describe() for p in run.permissions]
    if run.needs_confirmation and run.context.settings is not None:
        report.context.append(approval_line(run.context.settings, rule, run.runbook.name, run.risk, run.cluster))
    report.context.append(f"run {run.run_id} · plan {run.plan_hash[:12]}")
    return report


def run_report(
    rec: RunRecord,
    approvals: list[ApprovalRecord],
    *,
    extra: list[str] | None = None,
    now: datetime | None = None,
    hold: RunHold | None = None,
) -> Report:
    """The run's message for its current state: the stored plan under a state header (``hold``: its Pause)."""
    report = report_from_dict(rec.plan)
    word, tone = STATE_WORDS[RunState(rec.state)]
    report.title = f"{word}: {report.title}"
    report.tone = tone
    status = report.section("Status", tone=tone)
    approved = [a for a in approvals if a.decision == "approve" and a.plan_hash == rec.plan_hash]
    if rec.state == RunState.AWAITING_CONFIRMATION:
        status.lines.append(f"{rec.requester_name}: confirm to run this plan (expires {_when(rec.expires_at, now)})")
    if rec.approvals_required:
        names = ", ".join(a.approver_name for a in approved) or "none yet"
        status.fields.append(("Approvals", f"{len(approved)} of {rec.approvals_required}: {names}"))
    if rec.state == RunState.AWAITING_APPROVAL:
        status.lines.append(f"Waiting for approval until {_when(rec.expires_at, now)}. The requester cannot approve.")
    for a in approvals:
        if a.decision == "deny":
            status.lines.append(f"Denied by {a.approver_name}: {a.reason or 'no reason given'}")
    if rec.break_glass_reason:
        status.lines.append(f":rotating_light: BREAK-GLASS by {rec.requester_name}: {rec.break_glass_reason}")
    paused = hold is not None and hold.paused and rec.state == RunState.RUNNING
    if paused and hold is not None:
        status.lines.append(f"Paused by {hold.by} at {_when(hold.at, now)}: the weights hold until Resume")
    if rec.outcome:
        status.lines.append(rec.outcome)
    if rec.started_at and rec.finished_at:
        status.fields.append(("Duration", f"{(rec.finished_at - rec.started_at).total_seconds():.1f}s"))
    status.lines += extra or []
    report.actions = _buttons(rec, paused)
    return report


def _buttons(rec: RunRecord, paused: bool) -> list[Action]:
    """The buttons of the run's message in its current state (``paused``: the run is on hold)."""
    value = f"{rec.id}:{rec.plan_hash}"
    if rec.state == RunState.AWAITING_CONFIRMATION:
        return [Action("confirm", "Confirm", value, "primary"), Action("cancel", "Cancel", value)]
    if rec.state == RunState.AWAITING_APPROVAL:
        buttons = [
            Action("approve", "Approve", value, "primary"),
            Action("deny", "Deny", value, "danger"),
            Action("cancel", "Cancel request", value),
        ]
        if rec.policy.get("break_glass_allowed"):
            buttons.append(Action("break_glass", "Break glass", value, "danger"))
        return buttons
    if rec.state == RunState.QUEUED and rec.risk != "read":  # waiting for its turn: Abort stops it at once
        return [Action("abort", "Abort", value, "danger")]
    if rec.state == RunState.RUNNING and rec.risk != "read":
        buttons = [Action("abort", "Abort", value, "danger")]
        if rec.plan.get("pausable"):
            hold = Action("resume", "Resume", value, "primary") if paused else Action("pause", "Pause", value)
            buttons.insert(0, hold)
        return buttons
    return []


def _when(at: datetime | None, now: datetime | None) -> str:
    return clock_time(at, now or datetime.now(UTC)) if at else "?"
