"""What replace-node replaces, and when it must refuse.

``resolve`` follows a Node to what would replace it: its cloud instance and Auto Scaling group /
VM scale set (from ``spec.providerID``), or its Karpenter NodeClaim. With ``guards`` it refuses,
with the reason, EKS Fargate nodes, unknown providers, control-plane nodes outside a group
(seed 000: Azure masters are standalone VMs — restart them instead), anything that would leave
fewer Ready control-plane nodes than a majority, and a group already replacing or launching.

One replacement at a time per group is also enforced across runs and replicas through the store
(``bot.steps.replace_node.claims``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.cloud import InstanceRef, NodeGroup, NodeGroups, parse_provider_id
from bot.errors import PermanentError, UserError
from bot.steps.base import StepContext
from bot.steps.facts import Obj, node_state
from bot.steps.replace_node.claims import refuse_if_claimed

CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
NODEPOOL_LABEL = "karpenter.sh/nodepool"
NODECLAIMS = ("karpenter.sh", "v1", "nodeclaims")
FARGATE_LABEL = "eks.amazonaws.com/compute-type"


@dataclass
class Target:
    """A node and what replaces it: a cloud instance in a group, or a Karpenter NodeClaim."""

    cluster: str
    node: Obj
    ref: InstanceRef | None = None
    group: NodeGroup | None = None
    nodeclaim: Obj | None = None
    nodepool: str | None = None

    @property
    def name(self) -> str:
        """The node's name."""
        return str(self.node["metadata"]["name"])

    @property
    def uid(self) -> str:
        """The node's UID."""
        return str(self.node["metadata"]["uid"])

    @property
    def control_plane(self) -> bool:
        """Whether the node carries a control-plane role."""
        return is_control_plane(self.node)

    @property
    def lock_key(self) -> str:
        """One replacement at a time per this key."""
        if self.nodepool is not None:
            return f"karpenter:{self.cluster}:{self.nodepool}"
        assert self.group is not None
        return self.group.key

    def group_words(self) -> str:
        """``Auto Scaling group web`` / ``VM scale set pool-vmss`` / ``Karpenter NodePool default``."""
        if self.nodepool is not None:
            return f"Karpenter NodePool {self.nodepool}"
        assert self.group is not None
        return f"{self.group.kind} {self.group.name}"


def is_control_plane(node: Obj) -> bool:
    """Control-plane role labels (current and legacy), or aks-engine's ``kubernetes.io/role: master``."""
    labels = node.get("metadata", {}).get("labels") or {}
    return any(k in labels for k in CONTROL_PLANE_LABELS) or labels.get("kubernetes.io/role") == "master"


def read_node(ctx: StepContext, name: str) -> Obj:
    """The Node as plain JSON."""
    resp = ctx.kube.core.read_node(name, _preload_content=False, _request_timeout=ctx.kube.timeout)
    node: Obj = json.loads(resp.data)
    return node


def cloud_groups(ctx: StepContext, ref: InstanceRef) -> NodeGroups:
    """The cluster's cloud client for the provider the instance is on."""
    if ctx.cloud is None:
        raise PermanentError("this bot was built without cloud clients")
    return ctx.cloud.groups(ctx.cluster, ref.provider)


def resolve(ctx: StepContext, name: str, *, guards: bool = True, cloud: bool = True) -> Target:
    """Follow node ``name`` to its instance and group (or NodeClaim); with ``guards``, refuse unsafe cases.

    Without ``cloud`` no cloud API is called (``group`` stays None) — enough to describe the target.
    """
    node = read_node(ctx, name)
    meta, spec = node["metadata"], node.get("spec") or {}
    labels = meta.get("labels") or {}
    target = Target(ctx.cluster, node)
    if name.startswith("fargate-") or labels.get(FARGATE_LABEL) == "fargate":
        raise UserError(
            f"node {name} is an EKS Fargate node: AWS runs each Fargate pod on its own node, with no instance or "
            "group to replace",
            hint="delete (or restart) its pod instead; Fargate starts it on a fresh node",
        )
    claim = find_nodeclaim(ctx, node)
    if claim is not None or NODEPOOL_LABEL in labels:
        if claim is None:
            raise UserError(
                f"node {name} is Karpenter-managed (NodePool {labels[NODEPOOL_LABEL]}) but has no NodeClaim"
            )
        target.nodeclaim = claim
        target.nodepool = str(labels.get(NODEPOOL_LABEL) or (claim["metadata"].get("labels") or {}).get(NODEPOOL_LABEL))
    else:
        target.ref = parse_provider_id(spec.get("providerID"))
        if target.ref.provider == "azure" and target.ref.scale_set is None:
            raise _outside_group(target)
        if cloud:
            groups = cloud_groups(ctx, target.ref)
            target.group = groups.group_of(target.ref)
            if target.group is None:
                raise _outside_group(target)
    if cloud and target.group is not None:
        check_group_belongs(ctx, target)
    if guards:
        check_quorum(ctx, target)
        check_group_settled(ctx, target)
        refuse_if_claimed(ctx, target.lock_key, target.group_words())
    return target


def _outside_group(target: Target) -> UserError:
    where = target.ref.describe() if target.ref else "its instance"
    if target.control_plane:
        return UserError(
            f"control-plane node {target.name} is not in a scaling group ({where}): nothing would replace it "
            "(seed 000: Azure masters are standalone VMs, not in a VMSS)",
            hint="restart it instead of replacing it",
        )
    return UserError(
        f"node {target.name} is not in an Auto Scaling group or VM scale set ({where}): terminating it would "
        "not bring a replacement; nothing was done"
    )


CLUSTER_TAG = "kubernetes.io/cluster/"


def check_group_belongs(ctx: StepContext, target: Target) -> None:
    """Refuse a group that is not provably this cluster's: nothing of another cluster is ever terminated.

    AWS: the group carries the tag ``kubernetes.io/cluster/<name>`` (what EKS, kops and the cloud
    provider set) or is listed in ``cloud.allowed_groups``. Azure: the scale set lives in the pinned
    subscription and one of the pinned ``cloud.resource_groups`` (or is listed in ``allowed_groups``).
    """
    group, ref = target.group, target.ref
    if group is None or ref is None or ctx.cloud is None:
        return
    cs = ctx.cloud.cloud_settings(ctx.cluster)
    if group.name in cs.allowed_groups:
        return
    if group.provider == "aws":
        tag = CLUSTER_TAG + (cs.cluster_tag or ctx.cluster)
        if any(key == tag for key, _ in group.tags):
            return
        raise UserError(
            f"Auto Scaling group {group.name} is not tagged {tag} and is not in clusters.{ctx.cluster}.cloud."
            "allowed_groups: it may belong to another cluster, so nothing is terminated",
            hint="tag the group, set cloud.cluster_tag to the cluster's name in its tags, or list it in allowed_groups",
        )
    pinned_sub = (cs.subscription_id or "").lower()
    in_rg = (ref.resource_group or "").lower() in {rg.lower() for rg in cs.resource_groups}
    if pinned_sub and (ref.subscription or "").lower() == pinned_sub and in_rg:
        return
    raise UserError(
        f"scale set {group.name} (subscription {ref.subscription}, resource group {ref.resource_group}) is not in "
        f"the subscription and resource groups pinned for cluster {ctx.cluster}: nothing is deleted",
        hint=f"set clusters.{ctx.cluster}.cloud.subscription_id and resource_groups (or allowed_groups)",
    )


def check_quorum(ctx: StepContext, target: Target) -> None:
    """Refuse when losing this node would leave fewer Ready control-plane nodes than a majority."""
    if not target.control_plane:
        return
    nodes = [n for n in ctx.kube.list_raw(ctx.kube.core.list_node) if is_control_plane(n)]
    total = len(nodes)
    ready = sum(1 for n in nodes if node_state(n).ready)
    after = ready - (1 if node_state(target.node).ready else 0)
    majority = total // 2 + 1
    if after < majority:
        raise UserError(
            f"replacing control-plane node {target.name} would leave {after} of {total} control-plane nodes Ready, "
            f"fewer than the majority of {majority} that etcd and the control plane need",
            hint="bring the NotReady control-plane nodes back first, then replace one node at a time",
        )


def check_group_settled(ctx: StepContext, target: Target) -> None:
    """Refuse while the group is launching, terminating or updating (another replacement in progress)."""
    if target.nodeclaim is not None:
        for other in ctx.kube.api(client.CustomObjectsApi).list_cluster_custom_object(
            *NODECLAIMS, label_selector=f"{NODEPOOL_LABEL}={target.nodepool}", _request_timeout=ctx.kube.timeout
        )["items"]:
            if (
                other["metadata"].get("deletionTimestamp")
                and other["metadata"]["uid"] != target.nodeclaim["metadata"]["uid"]
            ):
                raise UserError(
                    f"NodeClaim {other['metadata']['name']} of {target.group_words()} is being deleted: another "
                    "replacement is in progress (one node at a time per group)"
                )
        return
    group, ref = target.group, target.ref
    if group is None or ref is None:
        return
    if group.busy:
        raise UserError(f"{group.kind} {group.name} is busy ({group.busy}); try again when it settles")
    moving = [i for i in group.unsettled() if i.instance_id.lower() != ref.instance_id.lower()]
    if moving:
        listed = ", ".join(f"{i.instance_id} {i.state}" for i in moving[:5])
        raise UserError(
            f"{group.kind} {group.name} has instances in transition ({listed}): another replacement or scaling "
            "is in progress (one node at a time per group)"
        )
    if len(group.instances) < group.desired:
        raise UserError(
            f"{group.kind} {group.name} has {len(group.instances)} of {group.desired} desired instances: it is "
            "still launching (one node at a time per group)"
        )


def find_nodeclaim(ctx: StepContext, node: Obj) -> Obj | None:
    """The Karpenter NodeClaim owning ``node`` (owner reference, else status.nodeName), if any."""
    api = ctx.kube.api(client.CustomObjectsApi)
    meta = node["metadata"]
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "NodeClaim" and str(ref.get("apiVersion", "")).startswith("karpenter.sh/"):
            try:
                found: Obj = api.get_cluster_custom_object(*NODECLAIMS, ref["name"], _request_timeout=ctx.kube.timeout)
                return found
            except ApiException as exc:
                if exc.status != 404:
                    raise
    if NODEPOOL_LABEL not in (meta.get("labels") or {}):
        return None
    try:
        items = api.list_cluster_custom_object(*NODECLAIMS, _request_timeout=ctx.kube.timeout)["items"]
    except ApiException as exc:
        if exc.status == 404:  # the NodeClaim CRD is not installed
            return None
        raise
    for item in items:
        status = item.get("status") or {}
        if status.get("nodeName") == meta["name"] or (
            status.get("providerID") and status.get("providerID") == (node.get("spec") or {}).get("providerID")
        ):
            return dict(item)
    return None


def node_in_group(target_ref: InstanceRef | None, nodepool: str | None, node: Obj, group_ids: set[str]) -> bool:
    """Whether ``node`` belongs to the same group as the target (NodePool label / scale set / instance ids)."""
    if nodepool is not None:
        return bool((node["metadata"].get("labels") or {}).get(NODEPOOL_LABEL) == nodepool)
    try:
        ref = parse_provider_id((node.get("spec") or {}).get("providerID"))
    except UserError:
        return False
    if target_ref is None or ref.provider != target_ref.provider:
        return False
    if ref.provider == "azure":
        return (ref.scale_set or "").lower() == (target_ref.scale_set or "").lower() and (
            ref.resource_group or ""
        ).lower() == (target_ref.resource_group or "").lower()
    return ref.instance_id.lower() in group_ids
