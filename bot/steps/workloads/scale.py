"""``workloads.scale``: set a Deployment's or StatefulSet's replicas, with the seeds' guard rails.

- configured singletons (``workloads.singletons``: insights-loader, kube-state-metrics) are never
  scaled above 1 — two copies double-count metrics or fight over their work;
- StatefulSets: the plan says pods go one at a time from the highest ordinal, and warns about
  quorum-based apps (etcd/ZooKeeper/Kafka-like names, or the ``runbook-bot.io/quorum`` label);
- an HPA managing the workload will override a hand-set count: the plan says so, and
  ``--adjust-hpa`` moves the HPA's min/max instead of the replicas;
- scaling to 0 is destructive (the plan raises the run's risk, so approval rules apply).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from bot.errors import UserError
from bot.model import ObjectRef, Permission, WorkloadRef
from bot.report import Report, Tone
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.dry_run import DRY_RUN, server_dry_run
from bot.steps.workloads.hpa import autoscaling, hpa_bounds, hpas_for
from bot.steps.workloads.objects import MERGE_PATCH, Obj, perm, read_workload, replicas_of
from bot.steps.workloads.rollout import follow_rollout, watch_permissions


class ScaleParams(BaseModel):
    """The workload, the replica count, and whether to move its HPA's bounds instead."""

    model_config = ConfigDict(extra="forbid")
    workload: WorkloadRef = Field(description="the Deployment or StatefulSet")
    replicas: int = Field(ge=0, le=10_000, description="the number of replicas wanted")
    adjust_hpa: bool = Field(False, description="move the HPA's min/max instead (when an HPA manages the workload)")
    timeout: timedelta = Field(
        default=timedelta(minutes=5),
        gt=timedelta(0),
        le=timedelta(hours=1),
        description="how long the new replicas may take to be ready",
    )


def hpa_change(bounds: tuple[int, int], current: int, wanted: int) -> tuple[int, int]:
    """New (min, max): up raises min to ``wanted`` (max at least that), down lowers max (min at most that)."""
    low, high = bounds
    if wanted > current:
        return wanted, max(high, wanted)
    if wanted < current:
        return min(low, wanted), wanted
    return low, high


def quorum_warning(
    name: str, labels: dict[str, str], current: int, wanted: int, names: list[str], label: str
) -> str | None:
    """A warning for quorum-based StatefulSets (by name or label) whose size changes."""
    if not (labels.get(label) == "true" or any(n in name for n in names)) or wanted == current:
        return None
    majority = wanted // 2 + 1
    text = f"{name} looks quorum-based: {current} → {wanted} members; a majority of {majority} must stay up"
    if wanted and wanted % 2 == 0:
        text += f"; an even size ({wanted}) tolerates no more failures than {wanted - 1}"
    if wanted < current:
        text += "; remove members from the cluster's membership first if the app needs it"
    return text


class ScaleWorkload(Step[ScaleParams]):
    """Scale a Deployment or StatefulSet (or move its HPA's bounds)."""

    name = "workloads.scale"
    Params = ScaleParams
    summary = "scale a Deployment or StatefulSet"

    def static_permissions(self, params: ScaleParams | None) -> list[Permission]:
        return [Permission(verb="patch", resource="deployments", group="apps", subresource="scale")]

    def plan(self, ctx: StepContext, params: ScaleParams) -> StepPlan:
        assert ctx.settings is not None
        ref, n = params.workload, params.replicas
        guards = ctx.settings.workloads
        if ref.kind == "DaemonSet":
            raise UserError(f"{ref} runs one pod per matching node; a DaemonSet cannot be scaled")
        if n > 1 and guards.is_singleton(ref.namespace, ref.name):
            raise UserError(
                f"{ref.name} is a configured singleton: it never runs more than 1 replica",
                hint="two copies would double its work (workloads.singletons in the configuration)",
            )
        obj = read_workload(ctx.kube, ref)
        current = replicas_of(obj)
        hpas = hpas_for(ctx.kube, ref.namespace, ref.kind, ref.name)
        plan = StepPlan(
            description=f"scale {ref} in {ref.namespace}: {current} → {n} replicas",
            targets=[ObjectRef(kind=ref.kind, name=ref.name, namespace=ref.namespace)],
            permissions=[perm("get", ref)],
            fingerprint={"uid": obj["metadata"]["uid"], "replicas": current, "hpas": [_hpa_key(h) for h in hpas or []]},
            mutates=n != current,
            risk="destructive" if n == 0 and current > 0 else None,
        )
        self._warn(ctx, plan, obj, ref, current, n, hpas)
        if params.adjust_hpa:
            self._plan_hpa(ctx, plan, ref, current, n, hpas)
        elif n != current:
            plan.permissions += [perm("patch", ref, "scale"), *watch_permissions(ref)]
            server_dry_run(plan, f"scaling {ref} to {n}", lambda: _scale(ctx, ref, n, DRY_RUN))
        else:
            plan.warnings.append(f"{ref} already has {n} replicas — nothing will change")
            plan.risk = "read"  # nothing to confirm
        return plan

    @staticmethod
    def _warn(
        ctx: StepContext, plan: StepPlan, obj: Obj, ref: WorkloadRef, current: int, n: int, hpas: list[Obj] | None
    ) -> None:
        assert ctx.settings is not None
        guards = ctx.settings.workloads
        if n == 0 and current > 0:
            plan.warnings.append(f"scaling to 0 stops every pod of {ref}: it serves nothing until scaled up again")
        if ref.kind == "StatefulSet" and n < current:
            plan.warnings.append(
                f"StatefulSet pods go one at a time from the highest ordinal ({ref.name}-{current - 1} first, "
                f"down to {ref.name}-{n}); their PersistentVolumeClaims are kept"
            )
        if ref.kind == "StatefulSet":
            labels = (obj.get("metadata") or {}).get("labels") or {}
            warning = quorum_warning(ref.name, labels, current, n, guards.quorum_names, guards.quorum_label)
            if warning:
                plan.warnings.append(warning)
        if hpas is None:
            plan.warnings.append("could not check for an HPA managing it (you may not list horizontalpodautoscalers)")
        for hpa in hpas or []:
            low, high = hpa_bounds(hpa)
            plan.warnings.append(
                f"HPA {hpa['metadata']['name']} (min {low}, max {high}) manages {ref}: "
                "it will override a hand-set count — use --adjust-hpa to move its min/max instead"
            )

    @staticmethod
    def _plan_hpa(
        ctx: StepContext, plan: StepPlan, ref: WorkloadRef, current: int, n: int, hpas: list[Obj] | None
    ) -> None:
        if not hpas:
            raise UserError(f"no HPA manages {ref}", hint="drop --adjust-hpa to scale it directly")
        if n == 0:
            raise UserError(
                "an HPA cannot keep a workload at 0 replicas (minReplicas is at least 1)",
                hint="delete or suspend the HPA first",
            )
        for hpa in hpas:
            name = hpa["metadata"]["name"]
            low, high = hpa_bounds(hpa)
            new_low, new_high = hpa_change((low, high), current, n)
            plan.details.append(f"HPA {name}: minReplicas {low} → {new_low}, maxReplicas {high} → {new_high}")
            plan.permissions.append(
                Permission(
                    verb="patch",
                    resource="horizontalpodautoscalers",
                    group="autoscaling",
                    namespace=ref.namespace,
                    name=name,
                )
            )
            plan.targets.append(ObjectRef(kind="HorizontalPodAutoscaler", name=name, namespace=ref.namespace))
            server_dry_run(
                plan, f"the new bounds of HPA {name}", _hpa_submit(ctx, ref.namespace, name, (new_low, new_high))
            )
        plan.description = f"move the HPA bounds of {ref} so it keeps {n} replicas (now {current})"
        plan.mutates = True

    def run(self, ctx: StepContext, params: ScaleParams) -> Report:
        ref, n = params.workload, params.replicas
        obj = read_workload(ctx.kube, ref)
        current = replicas_of(obj)
        if params.adjust_hpa:
            changed = []
            for hpa in hpas_for(ctx.kube, ref.namespace, ref.kind, ref.name) or []:
                bounds = hpa_change(hpa_bounds(hpa), current, n)
                _patch_hpa(ctx, ref.namespace, hpa["metadata"]["name"], bounds, None)
                changed.append(f"HPA {hpa['metadata']['name']}: min {bounds[0]}, max {bounds[1]}")
            return Report(title=f"HPA bounds of {ref} moved", tone=Tone.OK, summary="; ".join(changed))
        if n == current:
            return Report(title=f"{ref} already has {n} replicas", tone=Tone.OK)
        _scale(ctx, ref, n, None)
        state = follow_rollout(ctx.kube, ref, params.timeout.total_seconds(), ctx.abort, ctx.progress)
        return Report(title=f"{ref} scaled {current} → {n}", tone=Tone.OK, summary=state.line)


def _hpa_submit(ctx: StepContext, namespace: str, name: str, bounds: tuple[int, int]) -> Callable[[], object]:
    return lambda: _patch_hpa(ctx, namespace, name, bounds, DRY_RUN)


def _hpa_key(hpa: Obj) -> list[object]:
    return [hpa["metadata"]["name"], *hpa_bounds(hpa)]


def _scale(ctx: StepContext, ref: WorkloadRef, replicas: int, dry_run: str | None) -> object:
    apps = ctx.kube.apps
    call = (
        apps.patch_namespaced_deployment_scale if ref.kind == "Deployment" else apps.patch_namespaced_stateful_set_scale
    )
    extra = {"dry_run": dry_run} if dry_run else {}
    return call(
        ref.name,
        ref.namespace,
        {"spec": {"replicas": replicas}},
        _content_type=MERGE_PATCH,
        _request_timeout=ctx.kube.timeout,
        **extra,
    )


def _patch_hpa(ctx: StepContext, namespace: str, name: str, bounds: tuple[int, int], dry_run: str | None) -> object:
    extra = {"dry_run": dry_run} if dry_run else {}
    body = {"spec": {"minReplicas": bounds[0], "maxReplicas": bounds[1]}}
    return autoscaling(ctx.kube).patch_namespaced_horizontal_pod_autoscaler(
        name, namespace, body, _content_type=MERGE_PATCH, _request_timeout=ctx.kube.timeout, **extra
    )
