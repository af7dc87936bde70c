"""``workloads.restart`` (kubectl rollout restart, then follow the rollout) and ``workloads.rollout_status``.

Restart sets ``spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]`` — the
same annotation kubectl sets — so the controller replaces every pod by its update strategy
(maxSurge/maxUnavailable, PDB-free: it is a rolling update, not an eviction). The run then
follows the rollout until the new pods are available and the old ones gone, or the timeout.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from bot.model import ObjectRef, Permission, WorkloadRef
from bot.report import Report, Tone
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.dry_run import DRY_RUN, server_dry_run
from bot.steps.workloads.objects import patch_workload, perm, read_workload
from bot.steps.workloads.revisions import revision_table
from bot.steps.workloads.rollout import follow_rollout, rollout_state, watch_permissions

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class RestartParams(BaseModel):
    """The workload, and how long to follow its rollout."""

    model_config = ConfigDict(extra="forbid")
    workload: WorkloadRef = Field(description="the Deployment, StatefulSet or DaemonSet")
    timeout: timedelta = Field(
        default=timedelta(minutes=10),
        gt=timedelta(0),
        le=timedelta(hours=2),
        description="how long the rollout may take",
    )


def restart_patch(at: datetime) -> dict[str, object]:
    """The pod-template annotation kubectl rollout restart sets (RFC 3339, seconds)."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}


class RestartWorkload(Step[RestartParams]):
    """Rolling restart of a Deployment, StatefulSet or DaemonSet, followed to the end."""

    name = "workloads.restart"
    Params = RestartParams
    summary = "rolling restart of a workload, followed until the new pods are available"

    def static_permissions(self, params: RestartParams | None) -> list[Permission]:
        return [Permission(verb="patch", resource="deployments", group="apps")]

    def plan(self, ctx: StepContext, params: RestartParams) -> StepPlan:
        ref = params.workload
        obj = read_workload(ctx.kube, ref)
        state = rollout_state(ref.kind, obj)
        plan = StepPlan(
            description=f"restart {ref} in {ref.namespace} (pod-template annotation {RESTARTED_AT}), "
            f"then follow the rollout for up to {int(params.timeout.total_seconds() // 60) or 1}m",
            targets=[ObjectRef(kind=ref.kind, name=ref.name, namespace=ref.namespace)],
            permissions=[perm("get", ref), perm("patch", ref), *watch_permissions(ref)],
            fingerprint={"uid": obj["metadata"].get("uid")},
            mutates=True,
        )
        if not state.done:
            plan.warnings.append(f"a rollout is already in progress ({state.line}); the restart replaces it")
        if ref.kind == "StatefulSet":
            plan.warnings.append("StatefulSet pods are replaced one at a time, highest ordinal first")
        server_dry_run(
            plan,
            f"the restart of {ref}",
            lambda: patch_workload(ctx.kube, ref, restart_patch(datetime.now(UTC)), DRY_RUN),
        )
        return plan

    def run(self, ctx: StepContext, params: RestartParams) -> Report:
        ref = params.workload
        started = datetime.now(UTC)
        patch_workload(ctx.kube, ref, restart_patch(started))
        ctx.progress(f"{ref}: restart requested; following the rollout")
        state = follow_rollout(ctx.kube, ref, params.timeout.total_seconds(), ctx.abort, ctx.progress)
        took = (datetime.now(UTC) - started).total_seconds()
        return Report(title=f"{ref} restarted", tone=Tone.OK, summary=f"{state.line} ({took:.0f}s)")


class StatusParams(BaseModel):
    """The workload to report on."""

    model_config = ConfigDict(extra="forbid")
    workload: WorkloadRef = Field(description="the Deployment, StatefulSet or DaemonSet")


class RolloutStatus(Step[StatusParams]):
    """Where a workload's rollout stands; for a Deployment, its ReplicaSet revisions and images."""

    name = "workloads.rollout_status"
    Params = StatusParams
    summary = "rollout status of a workload"

    def static_permissions(self, params: StatusParams | None) -> list[Permission]:
        return [Permission(verb="get", resource="deployments", group="apps")]

    def plan(self, ctx: StepContext, params: StatusParams) -> StepPlan:
        ref = params.workload
        perms = [perm("get", ref)]
        if ref.kind == "Deployment":
            perms.append(_rs_permission(ref))
        return StepPlan(description=f"read the rollout of {ref}", permissions=perms)

    def run(self, ctx: StepContext, params: StatusParams) -> Report:
        ref = params.workload
        obj = read_workload(ctx.kube, ref)
        state = rollout_state(ref.kind, obj)
        tone = Tone.ERROR if state.failed else (Tone.OK if state.done else Tone.WARN)
        verdict = "complete" if state.done else ("failed" if state.failed else "in progress")
        report = Report(
            title=f"Rollout of {ref}: {verdict}",
            tone=tone,
            summary=state.line + (f" — {state.failed}" if state.failed else ""),
        )
        conditions = [
            f"{c.get('type')}={c.get('status')} ({c.get('reason', '')}): {c.get('message', '')}"
            for c in (obj.get("status") or {}).get("conditions") or []
        ]
        if conditions:
            report.section("Conditions").lines = conditions
        if ref.kind == "Deployment":
            columns, rows = revision_table(ctx.kube, obj)
            report.table(columns, rows, title="ReplicaSets (revisions)", empty="no ReplicaSets")
        return report


def _rs_permission(ref: WorkloadRef) -> Permission:
    return Permission(verb="list", resource="replicasets", group="apps", namespace=ref.namespace)
