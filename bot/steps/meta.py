"""Executors about the bot itself: help and whoami."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from bot.clients.retry import bounded_by
from bot.errors import BotError
from bot.report import Report, Tone
from bot.steps.base import Step, StepContext, StepPlan

CLUSTER_CHECK_SECONDS = 10.0
RISK_LABEL = {
    "read": "read-only",
    "change": "change (asks to confirm)",
    "destructive": "destructive (may need approval)",
}


class HelpParams(BaseModel):
    """Optional runbook to describe in detail."""

    model_config = ConfigDict(extra="forbid")
    runbook: str | None = Field(None, description="the runbook to describe (every runbook when omitted)")


class Help(Step[HelpParams]):
    """Usage of every runbook, or the details of one."""

    name = "bot.help"
    Params = HelpParams
    summary = "show usage"

    def plan(self, ctx: StepContext, params: HelpParams) -> StepPlan:
        return StepPlan(description="show help")

    def run(self, ctx: StepContext, params: HelpParams) -> Report:
        infos = {i.name: i for i in ctx.catalog.runbook_infos()}
        if params.runbook:
            info = infos[params.runbook]
            report = Report(title=f"{info.name} — {info.summary}")
            sec = report.section()
            sec.fields = [("Usage", f"`{info.usage}`"), ("Risk", RISK_LABEL.get(info.risk, info.risk))]
            sec.lines = list(info.params_help)
            sec.lines.append("Every runbook also takes `--cluster NAME` and `-n/--namespace NS`.")
            return report
        report = Report(
            title="Runbooks",
            summary="Type `help <runbook>` for details. Every runbook takes `--cluster NAME` and `-n/--namespace NS`.",
        )
        rows = [[f"`{i.usage}`", i.summary, i.risk] for i in infos.values()]
        report.table(["Usage", "What it does", "Risk"], rows)
        report.context.append("clusters: " + ", ".join(ctx.catalog.cluster_names()))
        return report


class NoArgs(BaseModel):
    """No arguments."""

    model_config = ConfigDict(extra="forbid")


class WhoAmI(Step[NoArgs]):
    """Your chat identity → Kubernetes identity, and the runbooks you may run on each cluster."""

    name = "bot.whoami"
    Params = NoArgs
    summary = "show your identity and what you may run"

    def plan(self, ctx: StepContext, params: NoArgs) -> StepPlan:
        return StepPlan(description="show identity")

    def run(self, ctx: StepContext, params: NoArgs) -> Report:
        req = ctx.requester
        report = Report(title=f"You are {req.display_name}", tone=Tone.INFO)
        who = report.section()
        who.fields = [("Chat identity", req.chat_id), ("Kubernetes identity", req.describe())]
        infos = [i for i in ctx.catalog.runbook_infos() if i.permissions]
        rows = []
        not_reached: list[str] = []
        for cluster in ctx.catalog.cluster_names():
            may: list[str] = []
            may_not: list[str] = []
            try:
                # An unreachable cluster costs at most this long: whoami goes on with the others.
                with bounded_by(deadline=time.monotonic() + CLUSTER_CHECK_SECONDS):
                    for info in infos:
                        missing = ctx.catalog.missing_permissions(cluster, req, info.permissions)
                        (may_not if missing else may).append(info.name)
            except BotError as exc:  # the cluster cannot be used or asked: say so, and show the others
                rows.append([cluster, "not checked: cluster not reached", "—"])
                not_reached.append(str(exc))
                continue
            rows.append([cluster, ", ".join(may) or "nothing", ", ".join(may_not) or "—"])
        report.table(["Cluster", "You may run", "Not allowed (cluster-wide)"], rows, title="Runbooks by cluster")
        if not_reached:
            report.section("Clusters not reached", tone=Tone.WARN).lines = not_reached
        report.context.append("checked with SubjectAccessReview against each cluster's RBAC")
        return report
