"""``workloads.restart_failed``: delete the failing pods of a workload or namespace (seed 004).

A pod is failing when a container (or init container) waits in CrashLoopBackOff,
ImagePullBackOff or ErrImagePull, or terminated with Error — exactly what ``kubectl get pods``
shows in its STATUS column. Its controller recreates it. Each deletion is bound to the planned
pod's UID (a pod recreated under the same name since the plan is left alone); pods without a
controller are skipped unless ``--force`` (nothing would recreate them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from bot.errors import AbortedError
from bot.kube_facts import controller_workload, pod_restarts, pod_status
from bot.model import ObjectRef, Permission, WorkloadRef
from bot.report import Report, Tone
from bot.selectors import label_selector_matches
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.dry_run import DRY_RUN, delete_options, server_dry_run
from bot.steps.workloads.objects import Obj, perm, read_workload

FAILING = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "Error"})
LISTED = 25


class RestartFailedParams(BaseModel):
    """A workload (or None: the whole namespace), and whether pods without a controller may go too."""

    model_config = ConfigDict(extra="forbid")
    workload: WorkloadRef | None = Field(
        None, description="only the pods of this workload (default: every failing pod of the namespace)"
    )
    namespace: str = Field(description="the namespace")
    force: bool = Field(False, description="also delete failing pods that no controller would recreate")


@dataclass(frozen=True)
class FailingPod:
    """A pod to delete (or skip), with why it is failing."""

    name: str
    uid: str
    reason: str
    restarts: int
    owner: str | None


def failing_reason(pod: Obj) -> str | None:
    """The failing status of a pod (``CrashLoopBackOff``, ``Init:Error``…), or None."""
    status = pod_status(pod)
    return status if status.removeprefix("Init:") in FAILING else None


def failing_pods(pods: list[Obj], workload: Obj | None) -> list[FailingPod]:
    """The failing pods among ``pods`` (of ``workload`` when given: selected by it and owned by it)."""
    out = []
    selector = ((workload or {}).get("spec") or {}).get("selector")
    name = ((workload or {}).get("metadata") or {}).get("name")
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        owner = controller_workload(pod)
        if workload is not None and (
            not label_selector_matches(selector, meta.get("labels") or {}) or owner is None or owner[1] != name
        ):
            continue
        reason = failing_reason(pod)
        if reason:
            out.append(
                FailingPod(
                    meta["name"], meta["uid"], reason, pod_restarts(pod), f"{owner[0]}/{owner[1]}" if owner else None
                )
            )
    return sorted(out, key=lambda p: (-p.restarts, p.name))


class RestartFailedPods(Step[RestartFailedParams]):
    """Delete failing pods so their controllers recreate them."""

    name = "workloads.restart_failed"
    Params = RestartFailedParams
    summary = "delete the CrashLoopBackOff/Error/ImagePullBackOff pods of a workload or namespace"

    def static_permissions(self, params: RestartFailedParams | None) -> list[Permission]:
        return [Permission(verb="list", resource="pods"), Permission(verb="delete", resource="pods")]

    def _find(self, ctx: StepContext, params: RestartFailedParams) -> tuple[list[FailingPod], list[FailingPod]]:
        workload = read_workload(ctx.kube, params.workload) if params.workload else None
        pods = list(ctx.kube.list_raw(ctx.kube.core.list_namespaced_pod, namespace=params.namespace))
        found = failing_pods(pods, workload)
        delete = [p for p in found if p.owner or params.force]
        return delete, [p for p in found if p not in delete]

    def plan(self, ctx: StepContext, params: RestartFailedParams) -> StepPlan:
        ns = params.namespace
        scope = f"{params.workload}" if params.workload else f"namespace {ns}"
        delete, skipped = self._find(ctx, params)
        perms = [Permission(verb="list", resource="pods", namespace=ns)]
        if params.workload:
            perms.insert(0, perm("get", params.workload))
        perms += [Permission(verb="delete", resource="pods", namespace=ns, name=p.name) for p in delete]
        plan = StepPlan(
            description=f"delete {_pods(len(delete))} of {scope} so their controllers recreate them",
            details=[_line(p) for p in delete[:LISTED]]
            + ([f"… and {len(delete) - LISTED} more"] if len(delete) > LISTED else []),
            targets=[ObjectRef(kind="Pod", name=p.name, namespace=ns) for p in delete],
            permissions=perms,
            fingerprint={"pods": sorted([p.name, p.uid] for p in delete)},
            mutates=bool(delete),
        )
        for p in skipped:
            plan.warnings.append(
                f"skipped {_line(p)}: no controller would recreate it (add --force to delete it anyway)"
            )
        for p in delete:
            if p.owner is None:
                plan.warnings.append(f"pod {p.name} has no controller and will NOT be recreated (--force)")
        if not delete:
            plan.warnings.append(f"no failing pods in {scope} — nothing will change")
            plan.risk = "read"
            return plan
        for p in delete:
            server_dry_run(plan, f"the deletion of pod {p.name}", _delete(ctx, ns, p, DRY_RUN))
        return plan

    def run(self, ctx: StepContext, params: RestartFailedParams) -> Report:
        ns = params.namespace
        delete, _ = self._find(ctx, params)
        deleted: list[str] = []
        gone: list[str] = []
        for i, p in enumerate(delete, 1):
            if ctx.abort.is_set():
                raise AbortedError(f"deleted {len(deleted)} of {len(delete)} pods: {', '.join(deleted) or 'none'}")
            try:
                _delete(ctx, ns, p, None)()
                deleted.append(p.name)
            except ApiException as exc:
                if exc.status not in (404, 409):  # gone, or recreated under the same name (UID precondition)
                    raise
                gone.append(p.name)
            ctx.progress(f"deleted {i}/{len(delete)} failing pods")
        if not delete:
            scope = f"{params.workload}" if params.workload else f"namespace {ns}"
            return Report(title=f"No failing pods in {scope}", tone=Tone.OK, summary="nothing was deleted")
        report = Report(
            title=f"Deleted {_pods(len(deleted))} in {ns}",
            tone=Tone.OK,
            summary="their controllers create replacements" if deleted else "nothing to delete",
        )
        report.table(
            ["Pod", "Reason", "Restarts", "Owner"],
            [[p.name, p.reason, str(p.restarts), p.owner or "none"] for p in delete if p.name in deleted],
        )
        if gone:
            report.section("Already replaced").lines = [
                f"{name}: gone or recreated since the plan; left alone" for name in gone
            ]
        return report


def _pods(n: int) -> str:
    return f"{n} failing pod" + ("" if n == 1 else "s")


def _line(p: FailingPod) -> str:
    return f"pod {p.name}: {p.reason}, {p.restarts} restart{'s' if p.restarts != 1 else ''}, owner {p.owner or 'none'}"


def _delete(ctx: StepContext, namespace: str, pod: FailingPod, dry_run: str | None) -> Any:
    extra = {"dry_run": dry_run} if dry_run else {}
    body = delete_options(pod.uid, dry_run=bool(dry_run))  # with a body, DELETE reads dryRun from it only
    return lambda: ctx.kube.core.delete_namespaced_pod(
        pod.name, namespace, body=body, _request_timeout=ctx.kube.timeout, **extra
    )
