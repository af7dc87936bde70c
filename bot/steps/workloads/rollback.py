"""``workloads.rollback``: kubectl rollout undo for a Deployment, then follow the rollout.

The target is the previous revision (the highest below the current one) or the one asked for.
As kubectl does, the Deployment's pod template becomes that ReplicaSet's template (without its
``pod-template-hash`` label) and its annotations are carried over, in one JSON Patch that first
tests the resourceVersion read. An unknown revision is refused listing the real ones and their
images.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.clients.kube import KubeAccess
from bot.errors import UserError
from bot.model import ObjectRef, Permission, WorkloadRef
from bot.report import Report, Tone
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.dry_run import DRY_RUN, server_dry_run
from bot.steps.workloads.objects import JSON_PATCH, Obj, images, patch_workload, perm, read_workload
from bot.steps.workloads.revisions import REVISION, Revision, current_revision, revisions
from bot.steps.workloads.rollout import follow_rollout, watch_permissions

HASH_LABEL = "pod-template-hash"
SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


class RollbackParams(BaseModel):
    """The Deployment, the revision (default: the previous one) and how long to follow the rollout."""

    model_config = ConfigDict(extra="forbid")
    deployment: WorkloadRef = Field(description="the Deployment to roll back")
    revision: int | None = Field(
        default=None, ge=1, description="the ReplicaSet revision to go back to (default: the previous one)"
    )
    timeout: timedelta = Field(
        default=timedelta(minutes=10),
        gt=timedelta(0),
        le=timedelta(hours=2),
        description="how long the rollout may take",
    )


def template_of(rs: Obj) -> Obj:
    """A ReplicaSet's pod template without the hash label the Deployment controller added."""
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(HASH_LABEL, None)
    return template


def undo_patch(deployment: Obj, target: Revision) -> list[Obj]:
    """kubectl's undo: the template and the annotations (deployment-owned ones kept, the rest from the RS)."""
    dep_ann = (deployment.get("metadata") or {}).get("annotations") or {}
    rs_ann = (target.replicaset.get("metadata") or {}).get("annotations") or {}
    annotations = {k: v for k, v in dep_ann.items() if k in SKIPPED_ANNOTATIONS}
    annotations.update({k: v for k, v in rs_ann.items() if k not in SKIPPED_ANNOTATIONS})
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": deployment["metadata"]["resourceVersion"]},
        {"op": "replace", "path": "/spec/template", "value": template_of(target.replicaset)},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]


def listing(revs: list[Revision], current: int | None) -> str:
    """``3 (current): app=img:3; 2: app=img:2``."""
    return "; ".join(f"{r.number}{' (current)' if r.number == current else ''}: {r.images}" for r in revs) or "none"


def choose(ref: WorkloadRef, revs: list[Revision], current: int | None, wanted: int | None) -> Revision:
    """The revision to go back to; UserError naming the real ones when it does not exist."""
    if wanted is None:
        older = [r for r in revs if current is None or r.number < current]
        if not older:
            raise UserError(
                f"{ref} has no previous revision to roll back to", hint=f"its revisions: {listing(revs, current)}"
            )
        return older[0]
    for r in revs:
        if r.number == wanted:
            return r
    raise UserError(f"{ref} has no revision {wanted}", hint=f"its revisions: {listing(revs, current)}")


class RollbackDeployment(Step[RollbackParams]):
    """Undo a Deployment to an earlier ReplicaSet revision."""

    name = "workloads.rollback"
    Params = RollbackParams
    summary = "roll a Deployment back to an earlier revision"

    def static_permissions(self, params: RollbackParams | None) -> list[Permission]:
        return [
            Permission(verb="patch", resource="deployments", group="apps"),
            Permission(verb="list", resource="replicasets", group="apps"),
        ]

    def _target(self, kube: KubeAccess, params: RollbackParams) -> tuple[Obj, Revision, int | None]:
        ref = params.deployment
        if ref.kind != "Deployment":
            raise UserError(
                f"rollback works on Deployments; {ref} is a {ref.kind}",
                hint="StatefulSets and DaemonSets keep their history in ControllerRevisions (`kubectl rollout undo`)",
            )
        dep = read_workload(kube, ref)
        current = current_revision(dep)
        return dep, choose(ref, revisions(kube, dep), current, params.revision), current

    def plan(self, ctx: StepContext, params: RollbackParams) -> StepPlan:
        ref = params.deployment
        dep, target, current = self._target(ctx.kube, params)
        plan = StepPlan(
            description=f"roll back {ref} from revision {current} to revision {target.number} ({target.name})",
            details=[f"images: {images(dep)} → {target.images}"],
            targets=[ObjectRef(kind="Deployment", name=ref.name, namespace=ref.namespace)],
            permissions=[
                perm("get", ref),
                Permission(verb="list", resource="replicasets", group="apps", namespace=ref.namespace),
                perm("patch", ref),
                *watch_permissions(ref),
            ],
            fingerprint={
                "uid": dep["metadata"]["uid"],
                "from": current,
                "to": target.number,
                "rs": target.replicaset["metadata"]["uid"],
            },
            mutates=True,
        )
        if template_of(target.replicaset) == _template(dep):
            plan.warnings.append(f"{ref} already runs the template of revision {target.number} — nothing will change")
            plan.mutates = False
            plan.risk = "read"  # nothing to confirm or approve
            return plan
        server_dry_run(
            plan,
            f"the rollback of {ref}",
            lambda: patch_workload(ctx.kube, ref, undo_patch(dep, target), DRY_RUN, content_type=JSON_PATCH),
        )
        return plan

    def run(self, ctx: StepContext, params: RollbackParams) -> Report:
        ref = params.deployment
        dep, target, _ = self._target(ctx.kube, params)
        before = images(dep)
        if template_of(target.replicaset) == _template(dep):
            return Report(title=f"{ref} already at revision {target.number}", tone=Tone.OK, summary=before)
        patch_workload(ctx.kube, ref, undo_patch(dep, target), content_type=JSON_PATCH)
        ctx.progress(f"{ref}: rolled back to revision {target.number}; following the rollout")
        state = follow_rollout(ctx.kube, ref, params.timeout.total_seconds(), ctx.abort, ctx.progress)
        return Report(
            title=f"{ref} rolled back to revision {target.number}",
            tone=Tone.OK,
            summary=f"images {before} → {target.images}; {state.line}",
        )


def _template(dep: Obj) -> Any:
    return (dep.get("spec") or {}).get("template") or {}
