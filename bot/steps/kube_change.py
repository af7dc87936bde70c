"""Change executors: cordon / uncordon a node, delete a pod so its controller recreates it."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from bot.errors import PermanentError, UserError
from bot.kube_facts import pod_status
from bot.model import ObjectRef, Permission
from bot.report import Report, Tone
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.dry_run import DRY_RUN, delete_options, server_dry_run

STRATEGIC_MERGE = "application/strategic-merge-patch+json"


class NodeParams(BaseModel):
    """The node to act on."""

    model_config = ConfigDict(extra="forbid")
    node: str = Field(description="the node to cordon or uncordon")


class _SetUnschedulable(Step[NodeParams]):
    """Patch ``spec.unschedulable`` — the whole of kubectl cordon/uncordon."""

    unschedulable: bool
    verb_word: str
    permissions_note = "the plan also reads the node: get nodes <node>"

    def static_permissions(self, params: NodeParams | None) -> list[Permission]:
        return [Permission(verb="patch", resource="nodes", name=params.node if params else None)]

    def plan(self, ctx: StepContext, params: NodeParams) -> StepPlan:
        node = ctx.kube.core.read_node(params.node, _request_timeout=ctx.kube.timeout)
        already = bool(node.spec.unschedulable) == self.unschedulable
        plan = StepPlan(
            description=f"{self.verb_word} node {params.node} (spec.unschedulable → {str(self.unschedulable).lower()})",
            targets=[ObjectRef(kind="Node", name=params.node)],
            permissions=[Permission(verb="get", resource="nodes", name=params.node), *self.static_permissions(params)],
            fingerprint={"uid": node.metadata.uid, "unschedulable": bool(node.spec.unschedulable)},
            mutates=not already,
        )
        if already:
            plan.warnings.append(
                f"node {params.node} is already {'cordoned' if self.unschedulable else 'schedulable'}"
                " — nothing will change"
            )
        else:
            server_dry_run(
                plan, f"the {self.verb_word} of node {params.node}", lambda: self._patch(ctx, params, DRY_RUN)
            )
        return plan

    def _patch(self, ctx: StepContext, params: NodeParams, dry_run: str | None = None) -> object:
        return ctx.kube.core.patch_node(
            params.node,
            {"spec": {"unschedulable": self.unschedulable}},
            _content_type=STRATEGIC_MERGE,
            _request_timeout=ctx.kube.timeout,
            **({"dry_run": dry_run} if dry_run else {}),
        )

    def run(self, ctx: StepContext, params: NodeParams) -> Report:
        self._patch(ctx, params)
        state = "cordoned (no new pods will be scheduled)" if self.unschedulable else "schedulable again"
        return Report(title=f"Node {params.node} {state}", tone=Tone.OK)


class Cordon(_SetUnschedulable):
    """Mark a node unschedulable."""

    name = "kubernetes.cordon"
    Params = NodeParams
    summary = "cordon a node"
    unschedulable = True
    verb_word = "cordon"


class Uncordon(_SetUnschedulable):
    """Mark a node schedulable."""

    name = "kubernetes.uncordon"
    Params = NodeParams
    summary = "uncordon a node"
    unschedulable = False
    verb_word = "uncordon"


class DeletePodParams(BaseModel):
    """The pod to delete, in the invocation's namespace."""

    model_config = ConfigDict(extra="forbid")
    pod: str = Field(description="the pod to delete")
    namespace: str = Field(description="the pod's namespace (runbooks pass {namespace}: the -n option)")
    force: bool = Field(False, description="also delete a pod without a controller (nothing recreates it)")


def _controller(pod: Any) -> str | None:
    for ref in pod.metadata.owner_references or []:
        if ref.controller:
            return f"{ref.kind}/{ref.name}"
    return None


class DeletePod(Step[DeletePodParams]):
    """Delete one pod so its controller recreates it (seed 004: clearing CrashLoopBackOff/Error)."""

    name = "kubernetes.delete_pod"
    Params = DeletePodParams
    summary = "delete a pod so its controller recreates it"
    permissions_note = "the plan also reads the pod: get pods <pod> in <namespace>"

    def static_permissions(self, params: DeletePodParams | None) -> list[Permission]:
        return [
            Permission(
                verb="delete",
                resource="pods",
                namespace=params.namespace if params else None,
                name=params.pod if params else None,
            )
        ]

    def plan(self, ctx: StepContext, params: DeletePodParams) -> StepPlan:
        pod = ctx.kube.core.read_namespaced_pod(params.pod, params.namespace, _request_timeout=ctx.kube.timeout)
        owner = _controller(pod)
        raw = ctx.kube.api_client.sanitize_for_serialization(pod)
        plan = StepPlan(
            description=f"delete pod {params.namespace}/{params.pod} ({pod_status(raw)})"
            + (f"; {owner} will recreate it" if owner else ""),
            targets=[ObjectRef(kind="Pod", name=params.pod, namespace=params.namespace)],
            permissions=[
                Permission(verb="get", resource="pods", namespace=params.namespace, name=params.pod),
                *self.static_permissions(params),
            ],
            fingerprint={"uid": pod.metadata.uid},
            mutates=True,
        )
        if owner is None:
            if not params.force:
                raise UserError(
                    f"pod {params.namespace}/{params.pod} has no controller: deleting it removes it for good",
                    hint="add --force if that is what you want",
                )
            plan.warnings.append("this pod has no controller and will NOT be recreated")
        server_dry_run(
            plan,
            f"the deletion of pod {params.namespace}/{params.pod}",
            lambda: ctx.kube.core.delete_namespaced_pod(
                params.pod,
                params.namespace,
                _request_timeout=ctx.kube.timeout,
                body=delete_options(pod.metadata.uid, dry_run=True),
                dry_run=DRY_RUN,
            ),
        )
        return plan

    def run(self, ctx: StepContext, params: DeletePodParams) -> Report:
        try:
            pod = ctx.kube.core.read_namespaced_pod(params.pod, params.namespace, _request_timeout=ctx.kube.timeout)
            uid = ctx.approved("uid") or pod.metadata.uid
            if pod.metadata.uid != uid:
                raise PermanentError(
                    f"pod {params.namespace}/{params.pod} is not the pod that was approved (it was recreated since "
                    "the plan; its UID changed); nothing was deleted"
                )
            ctx.kube.core.delete_namespaced_pod(
                params.pod,
                params.namespace,
                _request_timeout=ctx.kube.timeout,
                body={"preconditions": {"uid": uid}},
            )
        except ApiException as exc:
            if exc.status == 404:
                raise PermanentError(
                    f"pod {params.namespace}/{params.pod} no longer exists; nothing was deleted"
                ) from None
            raise
        owner = _controller(pod)
        return Report(
            title=f"Pod {params.namespace}/{params.pod} deleted",
            tone=Tone.OK,
            summary=f"{owner} will create a replacement" if owner else "it had no controller",
        )
