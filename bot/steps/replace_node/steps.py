"""replace-node's executors: claim the group, terminate the instance, wait for the new node, delete the old.

The cloud call (terminate / delete an instance) is made with the bot's cloud identity; it is
gated on the requester's Kubernetes permission to delete the Node, so nobody can replace a node
they could not remove from the cluster themselves. Karpenter-managed nodes are replaced by
deleting their NodeClaim (as the requester): Karpenter terminates the instance and launches anew.
"""

from __future__ import annotations

from datetime import timedelta

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from bot.durations import format_duration
from bot.errors import PermanentError
from bot.model import ObjectRef, Permission
from bot.report import Report, Tone
from bot.steps.arguments import Duration
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.replace_node.claims import take_claim
from bot.steps.replace_node.records import ReplacementReady, ReplacementRecord
from bot.steps.replace_node.target import (
    NODECLAIMS,
    Target,
    check_group_settled,
    check_quorum,
    cloud_groups,
    node_in_group,
    resolve,
)
from bot.steps.replace_node.wait import ReplacementWatch

LISTED = 10
RECORD_AUDIT_KIND = "replacement_record"
READY_AUDIT_KIND = "replacement_ready"
GROUP_KINDS = {"aws": "AutoScalingGroup", "azure": "VirtualMachineScaleSet"}


class NodeParams(BaseModel):
    """The node being replaced."""

    model_config = ConfigDict(extra="forbid")
    node: str = Field(description="the node being replaced")


class WaitParams(BaseModel):
    """The node being replaced, and how long its replacement may take to be Ready."""

    model_config = ConfigDict(extra="forbid")
    node: str = Field(description="the node being replaced")
    timeout: Duration = Field(
        default=timedelta(minutes=15),
        gt=timedelta(0),
        le=timedelta(hours=2),
        description="how long the replacement node may take to register and be Ready",
    )


def _node_perms(node: str) -> list[Permission]:
    return [Permission(verb="get", resource="nodes", name=node), Permission(verb="list", resource="nodes")]


def _claim_perms(target: Target) -> list[Permission]:
    if target.nodeclaim is None:
        return []
    name = target.nodeclaim["metadata"]["name"]
    return [
        Permission(verb="list", resource="nodeclaims", group="karpenter.sh"),
        Permission(verb="get", resource="nodeclaims", group="karpenter.sh", name=name),
    ]


class ClaimGroup(Step[NodeParams]):
    """Check every replace-node guard and claim the node's group: one replacement at a time per group."""

    name = "cloud.claim_group"
    Params = NodeParams
    summary = "claim a node's group for a replacement (one at a time per group)"
    permissions_note = "also get nodes <node>; a Karpenter node: list nodeclaims, get its NodeClaim"

    def static_permissions(self, params: NodeParams | None) -> list[Permission]:
        return _node_perms(params.node if params else "")[1:]

    def plan(self, ctx: StepContext, params: NodeParams) -> StepPlan:
        target = resolve(ctx, params.node)
        plan = StepPlan(
            description=f"claim {target.group_words()} for this replacement (one node at a time per group)",
            permissions=_node_perms(params.node) + _claim_perms(target),
            fingerprint={"node_uid": target.uid, "key": target.lock_key},
        )
        if target.control_plane:
            plan.warnings.append(f"{params.node} is a control-plane node; quorum is kept (checked)")
        return plan

    def run(self, ctx: StepContext, params: NodeParams) -> Report | None:
        target = resolve(ctx, params.node, guards=False)
        take_claim(ctx, target.lock_key, target.name, target.group_words())
        return None


class TerminateInstance(Step[NodeParams]):
    """Terminate a node's instance so its group replaces it (or delete its Karpenter NodeClaim)."""

    name = "cloud.terminate_instance"
    Params = NodeParams
    summary = "terminate a node's cloud instance so its group replaces it"
    permissions_note = (
        "also get and list nodes; a Karpenter node: list nodeclaims, get and delete its NodeClaim. "
        "The cloud call itself is made with the bot's cloud identity"
    )

    def static_permissions(self, params: NodeParams | None) -> list[Permission]:
        return [Permission(verb="delete", resource="nodes", name=params.node if params else None)]

    def plan(self, ctx: StepContext, params: NodeParams) -> StepPlan:
        t = resolve(ctx, params.node)
        perms = [*_node_perms(params.node), *_claim_perms(t)]
        if t.nodeclaim is not None:
            claim = t.nodeclaim["metadata"]["name"]
            perms.append(Permission(verb="delete", resource="nodeclaims", group="karpenter.sh", name=claim))
            return StepPlan(
                description=f"delete NodeClaim {claim} ({t.group_words()}): Karpenter terminates the instance "
                "and provisions a replacement",
                targets=[ObjectRef(kind="NodeClaim", name=claim)],
                permissions=[*perms, *self.static_permissions(params)],
                fingerprint={"node_uid": t.uid, "nodeclaim_uid": t.nodeclaim["metadata"]["uid"]},
                mutates=True,
            )
        assert t.ref is not None
        assert t.group is not None
        g = t.group
        action = (
            "terminate it keeping the desired capacity"
            if g.provider == "aws"
            else f"delete it and set the capacity back to {g.desired}"
        )
        plan = StepPlan(
            description=f"{t.ref.describe()} in {g.describe()}: {action}, so the group launches a replacement",
            targets=[ObjectRef(kind=GROUP_KINDS[g.provider], name=g.name), ObjectRef(kind="Node", name=params.node)],
            permissions=[*perms, *self.static_permissions(params)],
            fingerprint={"node_uid": t.uid, "instance": t.ref.instance_id, "group": g.key},
            mutates=True,
        )
        members = [
            f"{i.instance_id} {i.state}" + (" (this node)" if i.instance_id == t.ref.instance_id else "")
            for i in g.instances[:LISTED]
        ]
        more = f" … and {len(g.instances) - LISTED} more" if len(g.instances) > LISTED else ""
        plan.details += [
            f"{g.name} instances: {', '.join(members)}{more}",
            f"the {g.provider.upper()} call is made with the bot's cloud identity; it is allowed because you may "
            f"delete node {params.node}",
        ]
        return plan

    def run(self, ctx: StepContext, params: NodeParams) -> Report:
        t = resolve(ctx, params.node, guards=False)
        _same_as_approved(ctx, t)
        # Re-checked right before the irreversible step: the drain may have taken minutes.
        check_quorum(ctx, t)
        check_group_settled(ctx, t)
        take_claim(ctx, t.lock_key, t.name, t.group_words())
        nodes = list(ctx.kube.list_raw(ctx.kube.core.list_node))
        if t.nodeclaim is not None:
            meta = t.nodeclaim["metadata"]
            before = [n["metadata"]["uid"] for n in nodes if node_in_group(None, t.nodepool, n, set())]
            _keep(
                ctx,
                ReplacementRecord(
                    **_record_base(t), nodepool=t.nodepool, nodeclaim_uid=meta["uid"], nodes_before=before
                ),
            )
            ctx.kube.api(client.CustomObjectsApi).delete_cluster_custom_object(
                *NODECLAIMS,
                meta["name"],
                body={"preconditions": {"uid": meta["uid"]}},
                _request_timeout=ctx.kube.timeout,
            )
            return Report(
                title=f"NodeClaim {meta['name']} deleted: Karpenter replaces node {params.node}", tone=Tone.OK
            )
        assert t.ref is not None
        assert t.group is not None
        ids = t.group.ids()
        before = [n["metadata"]["uid"] for n in nodes if node_in_group(t.ref, None, n, ids)]
        record = ReplacementRecord(
            **_record_base(t),
            provider=t.ref.provider,
            provider_id=t.ref.provider_id,
            instance=t.ref.instance_id,
            group_name=t.group.name,
            nodes_before=before,
            instances_before=sorted(ids),
        )
        _keep(ctx, record)
        done = cloud_groups(ctx, t.ref).replace(t.ref, t.group, ctx.progress)
        return Report(title=f"Instance of node {params.node} replaced in the cloud", tone=Tone.OK, summary=done)


class WaitReplacementNode(Step[WaitParams]):
    """Wait (watching Nodes) for a new node of the same group to register and become Ready."""

    name = "kubernetes.wait_replacement_node"
    Params = WaitParams
    summary = "wait for the replacement of a node to be Ready"

    def static_permissions(self, params: WaitParams | None) -> list[Permission]:
        return [Permission(verb="list", resource="nodes"), Permission(verb="watch", resource="nodes")]

    def plan(self, ctx: StepContext, params: WaitParams) -> StepPlan:
        t = resolve(ctx, params.node, guards=False, cloud=False)
        where = f" from {t.group_words()}" if t.nodepool is not None else " from its group"
        return StepPlan(
            description=f"wait up to {format_duration(params.timeout)} for the replacement of node "
            f"{params.node}{where} to register and be Ready",
            permissions=self.static_permissions(params),
            fingerprint={"node_uid": t.uid},
        )

    def run(self, ctx: StepContext, params: WaitParams) -> Report:
        record = ctx.artifacts.get(ReplacementRecord, params.node)
        if record is None:
            raise PermanentError(f"no instance of node {params.node} was replaced by this run; nothing to wait for")
        found = ReplacementWatch(ctx, record).wait(params.timeout.total_seconds())
        ctx.artifacts.put(ReplacementReady(node=params.node, new_node=found.name, instance=found.instance), params.node)
        _audit(
            ctx,
            READY_AUDIT_KIND,
            f"replacement node {found.name} is Ready ({found.instance or 'new instance'})",
            {"node": params.node, "new_node": found.name, "instance": found.instance},
        )
        return Report(
            title=f"Replacement node {found.name} is Ready",
            tone=Tone.OK,
            summary=f"after {found.seconds:.0f}s" + (f" (instance {found.instance})" if found.instance else ""),
        )


class DeleteNode(Step[NodeParams]):
    """Delete the old Node object, bound to its UID (a new node that reused the name is left alone)."""

    name = "kubernetes.delete_node"
    Params = NodeParams
    summary = "delete a Node object"
    permissions_note = "the plan also reads the node: get nodes <node>"

    def static_permissions(self, params: NodeParams | None) -> list[Permission]:
        return [Permission(verb="delete", resource="nodes", name=params.node if params else None)]

    def plan(self, ctx: StepContext, params: NodeParams) -> StepPlan:
        node = ctx.kube.core.read_node(params.node, _request_timeout=ctx.kube.timeout)
        return StepPlan(
            description=f"delete the Node object {params.node}",
            targets=[ObjectRef(kind="Node", name=params.node)],
            permissions=[Permission(verb="get", resource="nodes", name=params.node), *self.static_permissions(params)],
            fingerprint={"uid": node.metadata.uid},
            mutates=True,
        )

    def run(self, ctx: StepContext, params: NodeParams) -> Report:
        record = ctx.artifacts.get(ReplacementRecord, params.node)
        ready = ctx.artifacts.get(ReplacementReady, params.node)
        replaced = f"; replaced by {ready.new_node}" if ready else ""
        approved = record.node_uid if record is not None else ctx.approved("uid")
        if approved is not None:
            uid = str(approved)
        else:
            try:
                uid = ctx.kube.core.read_node(params.node, _request_timeout=ctx.kube.timeout).metadata.uid
            except ApiException as exc:
                if exc.status == 404:
                    return Report(title=f"Node {params.node} was already deleted{replaced}", tone=Tone.OK)
                raise
        try:
            ctx.kube.core.delete_node(
                params.node,
                body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid)),
                _request_timeout=ctx.kube.timeout,
            )
        except ApiException as exc:
            if exc.status == 404:
                return Report(
                    title=f"Node {params.node} was already removed (by its controller){replaced}", tone=Tone.OK
                )
            if exc.status == 409:
                return Report(
                    title=f"Node {params.node} was already removed; a new node now uses that name{replaced}",
                    tone=Tone.OK,
                )
            raise
        return Report(title=f"Node {params.node} deleted{replaced}", tone=Tone.OK)


def _same_as_approved(ctx: StepContext, t: Target) -> None:
    """Stop unless the node, its instance and its NodeClaim are the very ones the plan named (by UID / id)."""
    now = {
        "node_uid": t.uid,
        "instance": t.ref.instance_id if t.ref else None,
        "nodeclaim_uid": t.nodeclaim["metadata"]["uid"] if t.nodeclaim else None,
    }
    changed = [k for k, v in now.items() if ctx.approved(k) is not None and ctx.approved(k) != v]
    if changed:
        what = ", ".join(f"{k.replace('_', ' ')} {ctx.approved(k)} → {now[k]}" for k in changed)
        raise PermanentError(
            f"node {t.name} is not the node that was approved ({what}): it was deleted and registered again "
            "during the run; nothing was terminated. Check the node and run replace-node again if needed"
        )


def _record_base(t: Target) -> dict[str, str]:
    return {"node": t.name, "node_uid": t.uid, "group": t.group_words()}


def _keep(ctx: StepContext, record: ReplacementRecord) -> None:
    """Hand the record to the later steps, and leave it in the audit trail for people."""
    ctx.artifacts.put(record, record.node)
    _audit(ctx, RECORD_AUDIT_KIND, f"replacing node {record.node} in {record.group}", record.model_dump(mode="json"))


def _audit(ctx: StepContext, kind: str, summary: str, detail: dict[str, object]) -> None:
    if ctx.store is not None:
        ctx.store.add_audit(ctx.run_id, "bot", kind, summary, detail)
