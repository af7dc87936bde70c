"""Executors over the bot's own records: recent runs and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from bot.config.access import AccessSettings
from bot.kube_facts import age
from bot.model import Permission
from bot.report import Report
from bot.steps.base import Step, StepContext, StepPlan
from bot.store.actor_names import actor_label, actor_names


class LimitParams(BaseModel):
    """How many entries to show."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(15, ge=1, le=100, description="how many runs to show, newest first")


def _when(at: datetime | None) -> str:
    return age(at, datetime.now(UTC)) + " ago" if at else "?"


class RecentRuns(Step[LimitParams]):
    """Recent runs: what, where, who asked, who approved, how it ended."""

    name = "bot.runs"
    Params = LimitParams
    summary = "recent runs and who approved them"

    def static_permissions(self, params: LimitParams | None) -> list[Permission]:
        return AccessSettings().runs

    def plan(self, ctx: StepContext, params: LimitParams) -> StepPlan:
        perms = ctx.settings.policies.access.runs if ctx.settings else self.static_permissions(params)
        return StepPlan(description="read the run history", permissions=list(perms))

    def run(self, ctx: StepContext, params: LimitParams) -> Report:
        if ctx.store is None:
            return Report(title="Runs", summary="no store is configured")
        rows = []
        for run in ctx.store.recent_runs(limit=params.limit):
            approvers = ", ".join(a.approver_name for a in ctx.store.approvals(run.id) if a.decision == "approve")
            if run.break_glass_reason:
                approvers = "BREAK-GLASS"
            who = run.requester_name + (f" ({run.kube_user})" if run.kube_user else "")
            rows.append(
                [run.id, run.command[:60], run.cluster, who, run.state, approvers or "—", _when(run.created_at)]
            )
        report = Report(title="Recent runs")
        report.table(
            ["Run", "Command", "Cluster", "Requested by", "State", "Approved by", "When"], rows, empty="no runs yet"
        )
        return report


class AuditParams(BaseModel):
    """How many audit events to show, optionally for one run."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(20, ge=1, le=200, description="how many audit events to show, newest first")
    run: str | None = Field(None, description="only the events of this run id")


class AuditLog(Step[AuditParams]):
    """The newest audit events: who did what, where, when."""

    name = "bot.audit"
    Params = AuditParams
    summary = "the audit trail"

    def static_permissions(self, params: AuditParams | None) -> list[Permission]:
        return AccessSettings().audit

    def plan(self, ctx: StepContext, params: AuditParams) -> StepPlan:
        perms = ctx.settings.policies.access.audit if ctx.settings else self.static_permissions(params)
        return StepPlan(description="read the audit trail", permissions=list(perms))

    def run(self, ctx: StepContext, params: AuditParams) -> Report:
        if ctx.store is None:
            return Report(title="Audit", summary="no store is configured")
        events = ctx.store.audit_events(run_id=params.run, limit=params.limit)
        names = actor_names(ctx.store, [e.run_id for e in events])
        rows = [
            [e.at.strftime("%Y-%m-%d %H:%M:%S"), e.run_id or "—", actor_label(names, e.actor), e.kind, e.summary[:120]]
            for e in events
        ]
        report = Report(title="Audit trail" + (f" of run {params.run}" if params.run else ""))
        report.table(["When (UTC)", "Run", "Who", "What", "Detail"], rows, empty="no audit events")
        return report
