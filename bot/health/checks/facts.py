"""What a sweep keeps of each Kubernetes object: small records, cut from the raw JSON at once.

Shared by every check and by the digest's glance, so a page of 500 full objects is dropped as
soon as it is read. A check that needs something these records do not carry keeps its own
record (``Check.keeps``) instead of growing them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.kube_facts import Obj, condition_since, controller_workload, node_state, parse_time, pod_status

CONTROL_PLANE_ROLES = ("control-plane", "master")
#: Waiting reasons that are normal while a container starts.
STARTING = frozenset({"ContainerCreating", "PodInitializing"})


@dataclass(slots=True)
class NodeFacts:
    """A node: readiness, cordon, pressure and since when."""

    name: str
    ready: bool
    ready_reason: str
    cordoned: bool
    control_plane: bool
    pressures: tuple[str, ...]
    ready_since: datetime | None
    pressure_since: datetime | None
    cordoned_since: datetime | None


@dataclass(slots=True)
class PodTrouble:
    """What is wrong with a pod that is not running fine."""

    status: str
    workload: tuple[str, str] | None
    crash_looping: bool
    waiting: tuple[str, ...]
    pending: bool
    pending_since: datetime | None


@dataclass(slots=True)
class PodFacts:
    """A pod: where it runs, its labels (for PDB selectors) and, if unhealthy, what is wrong."""

    namespace: str
    name: str
    node: str | None
    labels: dict[str, str]
    healthy: bool
    trouble: PodTrouble | None = None


@dataclass(slots=True)
class WorkloadFacts:
    """A Deployment, StatefulSet or DaemonSet and its replica counts."""

    kind: str
    namespace: str
    name: str
    desired: int
    ready: int
    scheduled: int = 0  # DaemonSet: currentNumberScheduled


@dataclass(slots=True)
class HpaFacts:
    """A HorizontalPodAutoscaler's bounds and current size."""

    namespace: str
    name: str
    target: str
    current: int
    minimum: int
    maximum: int
    limited_since: datetime | None


@dataclass(slots=True)
class PdbFacts:
    """A PodDisruptionBudget: its selector and how many disruptions it allows now."""

    namespace: str
    name: str
    selector: Obj | None
    allowed: int
    expected: int
    blocked_since: datetime | None


@dataclass(slots=True)
class JobFacts:
    """A Job that failed."""

    namespace: str
    name: str
    failed_since: datetime | None
    reason: str
    owner: str | None


def _intern(value: str) -> str:
    return sys.intern(value)


def node_facts(obj: Obj) -> NodeFacts:
    """Reduce a Node."""
    state = node_state(obj)
    pressure = [condition_since(obj, kind) for kind in state.pressures]
    taints = (obj.get("spec") or {}).get("taints") or []
    cordon_taint = next((t for t in taints if t.get("key") == "node.kubernetes.io/unschedulable"), None)
    return NodeFacts(
        name=state.name,
        ready=state.ready,
        ready_reason=state.ready_reason,
        cordoned=state.cordoned,
        control_plane=any(r in CONTROL_PLANE_ROLES for r in state.roles),
        pressures=state.pressures,
        ready_since=None if state.ready else _ready_changed(obj),
        pressure_since=min((p for p in pressure if p is not None), default=None),
        cordoned_since=parse_time(cordon_taint.get("timeAdded")) if cordon_taint else None,
    )


def _ready_changed(obj: Obj) -> datetime | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return parse_time(cond.get("lastTransitionTime"))
    return None


def pod_facts(obj: Obj) -> PodFacts:
    """Reduce a Pod; only unhealthy pods carry details."""
    meta = obj["metadata"]
    status = obj.get("status") or {}
    phase = status.get("phase")
    statuses = status.get("containerStatuses") or []
    terminating = bool(meta.get("deletionTimestamp"))
    healthy = phase == "Succeeded" or (
        phase == "Running" and not terminating and all(cs.get("ready") for cs in statuses)
    )
    facts = PodFacts(
        namespace=_intern(meta["namespace"]),
        name=meta["name"],
        node=_intern(n) if (n := (obj.get("spec") or {}).get("nodeName")) else None,
        labels=meta.get("labels") or {},
        healthy=healthy,
    )
    if healthy or terminating or phase == "Failed":
        return facts
    waiting = tuple(
        str(cs["state"]["waiting"].get("reason") or "Waiting")
        for cs in [*(status.get("initContainerStatuses") or []), *statuses]
        if "waiting" in (cs.get("state") or {})
    )
    pending = phase == "Pending"
    facts.trouble = PodTrouble(
        status=pod_status(obj),
        workload=controller_workload(obj),
        crash_looping="CrashLoopBackOff" in waiting,
        waiting=tuple(r for r in waiting if r not in STARTING and r != "CrashLoopBackOff"),
        pending=pending,
        pending_since=(condition_since(obj, "PodScheduled", "False") or parse_time(meta.get("creationTimestamp")))
        if pending
        else None,
    )
    return facts


def workload_facts(kind: str) -> Callable[[Obj], WorkloadFacts]:
    """Reducer for Deployments, StatefulSets or DaemonSets."""

    def reduce(obj: Obj) -> WorkloadFacts:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        if kind == "DaemonSet":
            desired = int(status.get("desiredNumberScheduled") or 0)
            ready = int(status.get("numberReady") or 0)
            scheduled = int(status.get("currentNumberScheduled") or 0)
        else:
            desired = int(spec["replicas"]) if spec.get("replicas") is not None else 1
            ready = int(status.get("readyReplicas") or 0)
            scheduled = 0
        return WorkloadFacts(kind, meta["namespace"], meta["name"], desired, ready, scheduled)

    return reduce


def hpa_facts(obj: Obj) -> HpaFacts:
    """Reduce an autoscaling/v2 HorizontalPodAutoscaler."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    return HpaFacts(
        namespace=meta["namespace"],
        name=meta["name"],
        target=f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}",
        current=int(status.get("currentReplicas") or 0),
        minimum=int(spec.get("minReplicas") or 1),
        maximum=int(spec.get("maxReplicas") or 0),
        limited_since=condition_since(obj, "ScalingLimited"),
    )


def pdb_facts(obj: Obj) -> PdbFacts:
    """Reduce a policy/v1 PodDisruptionBudget."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    return PdbFacts(
        namespace=meta["namespace"],
        name=meta["name"],
        selector=spec.get("selector"),
        allowed=int(status.get("disruptionsAllowed") or 0),
        expected=int(status.get("expectedPods") or 0),
        blocked_since=condition_since(obj, "DisruptionAllowed", "False"),
    )


def job_facts(obj: Obj) -> JobFacts | None:
    """Reduce a batch/v1 Job to its failure, or None when it has not failed."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            meta = obj["metadata"]
            owner = next((r.get("name") for r in meta.get("ownerReferences") or [] if r.get("kind") == "CronJob"), None)
            return JobFacts(
                namespace=meta["namespace"],
                name=meta["name"],
                failed_since=parse_time(cond.get("lastTransitionTime")),
                reason=str(cond.get("reason") or cond.get("message") or "Failed"),
                owner=owner,
            )
    return None
