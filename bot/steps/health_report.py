"""The ``health`` runbook: an on-demand digest of one cluster, read with the requester's identity.

It runs the same sweep and checks as the scheduled health checks, shows what they find now
(whatever their durations), the alerts firing, the runs of the last day and the backup status.
Resources the requester may not list are reported as not read; the checks needing them skip.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.health.checks import (
    HEALTH_CHECKS,
    CheckRegistry,
    backup_status,
    digest_report,
    evaluate,
    glance,
    take_snapshot,
)
from bot.model import Permission
from bot.report import Report
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.kube_read import NoParams

RUNS_WINDOW = timedelta(hours=24)


class HealthReport(Step[NoParams]):
    """Sweep the cluster now and report like the digest does."""

    name = "kubernetes.health"
    Params = NoParams
    summary = "on-demand health digest"
    permissions_note = "also reads HPAs, PDBs and Jobs where allowed; checks needing what you may not list are skipped"

    def __init__(self, checks: CheckRegistry = HEALTH_CHECKS) -> None:
        self.checks = checks

    def static_permissions(self, params: NoParams | None) -> list[Permission]:
        return [
            Permission(verb="list", resource="nodes"),
            Permission(verb="list", resource="pods"),
            Permission(verb="list", resource="deployments", group="apps"),
            Permission(verb="list", resource="statefulsets", group="apps"),
            Permission(verb="list", resource="daemonsets", group="apps"),
        ]

    def plan(self, ctx: StepContext, params: NoParams) -> StepPlan:
        return StepPlan(
            description="read nodes, pods, workloads, HPAs, PDBs and jobs; run the health checks",
            permissions=self.static_permissions(params),
        )

    def run(self, ctx: StepContext, params: NoParams) -> Report:
        now = datetime.now(UTC)
        checks = self.checks.configure(ctx.settings.health.checks if ctx.settings is not None else None)
        snap = take_snapshot(ctx.kube, now, checks.resources(), checks.keepers())
        backup = backup_status(ctx.settings, ctx.store, ctx.cluster) if ctx.settings is not None else None
        result = evaluate(snap, checks, now, backup)
        firing = ctx.store.open_alerts(cluster=ctx.cluster, states=("firing",)) if ctx.store else []
        since = now - RUNS_WINDOW
        runs = [
            r for r in (ctx.store.recent_runs(limit=100, since=since) if ctx.store else []) if r.cluster == ctx.cluster
        ]
        report = digest_report(
            f"Health of {ctx.cluster}",
            now=now,
            glances=[glance(snap, result)],
            firing=firing,
            runs=runs,
            runs_since=since,
            backups={ctx.cluster: backup} if backup is not None else {},
            findings=result.findings,
        )
        if result.skipped:
            report.section("Not checked").lines = [f"{check}: {why}" for check, why in sorted(result.skipped.items())]
        return report
