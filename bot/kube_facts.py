"""Facts read off raw Kubernetes objects (plain JSON dicts): node readiness, pod trouble.

Below every layer that reads the cluster: the read-only runbooks (``bot.steps``) and the health
checks (``bot.health.checks``) both use it, so both tell the same story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

WAITING_TROUBLE = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
        "ContainerCannotRun",
    }
)


@dataclass(frozen=True)
class NodeState:
    """What matters about a node at a glance."""

    name: str
    ready: bool
    ready_reason: str
    cordoned: bool
    roles: tuple[str, ...]
    kubelet_version: str
    created: datetime | None
    pressures: tuple[str, ...]

    @property
    def status(self) -> str:
        """``Ready``, ``NotReady``, ``Ready,SchedulingDisabled``… as kubectl prints it — except that a Ready
        condition the node controller set to ``Unknown`` (the kubelet stopped reporting) says ``Unknown``,
        where kubectl says ``NotReady``: on call, "the node went silent" and "the kubelet says not ready"
        lead to different runbooks."""
        text = "Ready" if self.ready else ("NotReady" if self.ready_reason != "Unknown" else "Unknown")
        return text + (",SchedulingDisabled" if self.cordoned else "")


def parse_time(value: str | None) -> datetime | None:
    """RFC 3339 from the API → aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def age(created: datetime | None, now: datetime | None = None) -> str:
    """``3d4h``, ``12m``, ``40s`` — kubectl-style age."""
    if created is None:
        return "?"
    secs = int(((now or datetime.now(UTC)) - created).total_seconds())
    if secs < 120:
        return f"{max(secs, 0)}s"
    if secs < 7200:
        return f"{secs // 60}m"
    if secs < 172800:
        return f"{secs // 3600}h{(secs % 3600) // 60}m" if secs < 36000 else f"{secs // 3600}h"
    return f"{secs // 86400}d{(secs % 86400) // 3600}h" if secs < 864000 else f"{secs // 86400}d"


def node_state(node: Obj) -> NodeState:
    """Readiness, cordon, roles and pressure conditions of a node."""
    meta, spec, status = node.get("metadata", {}), node.get("spec", {}), node.get("status", {})
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready_c = conditions.get("Ready") or {}
    ready = ready_c.get("status") == "True"
    reason = "Ready" if ready else ("Unknown" if ready_c.get("status", "Unknown") == "Unknown" else "NotReady")
    labels = meta.get("labels") or {}
    roles = tuple(
        sorted(
            k.split("/", 1)[1]
            for k in labels
            if k.startswith("node-role.kubernetes.io/") and "/" in k and k.split("/", 1)[1]
        )
    )
    pressures = tuple(
        sorted(
            t
            for t in ("MemoryPressure", "DiskPressure", "PIDPressure")
            if (conditions.get(t) or {}).get("status") == "True"
        )
    )
    return NodeState(
        name=meta.get("name", "?"),
        ready=ready,
        ready_reason=reason,
        cordoned=bool(spec.get("unschedulable")),
        roles=roles,
        kubelet_version=(status.get("nodeInfo") or {}).get("kubeletVersion", ""),
        created=parse_time(meta.get("creationTimestamp")),
        pressures=pressures,
    )


def pod_status(pod: Obj) -> str:
    """The status column kubectl shows: a waiting/terminated reason, else the phase."""
    meta, status = pod.get("metadata", {}), pod.get("status", {})
    if meta.get("deletionTimestamp"):
        return "Terminating"
    for cs in status.get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason") not in (None, "PodInitializing"):
            return "Init:" + str(state["waiting"]["reason"])
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            return str(state["waiting"]["reason"])
        if "terminated" in state and state["terminated"].get("reason") and status.get("phase") != "Succeeded":
            return str(state["terminated"]["reason"])
    if status.get("phase") == "Pending":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return "Pending (" + (cond.get("reason") or "unscheduled") + ")"
    return str(status.get("reason") or status.get("phase") or "Unknown")


def pod_restarts(pod: Obj) -> int:
    """Total container restarts."""
    return sum(int(cs.get("restartCount", 0)) for cs in (pod.get("status", {}).get("containerStatuses") or []))


def pod_is_healthy(pod: Obj) -> bool:
    """Running with every container ready, or Succeeded."""
    status = pod.get("status", {})
    phase = status.get("phase")
    if phase == "Succeeded":
        return True
    if phase != "Running" or pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    return all(cs.get("ready") for cs in status.get("containerStatuses") or [])


def workload_shortfall(kind: str, obj: Obj) -> tuple[int, int] | None:
    """(ready, desired) when a Deployment/StatefulSet/DaemonSet is short of ready replicas."""
    spec, status = obj.get("spec", {}), obj.get("status", {})
    if kind == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled", 0))
        ready = int(status.get("numberReady", 0))
    else:
        desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        ready = int(status.get("readyReplicas", 0) or 0)
    return (ready, desired) if ready < desired else None


def condition_since(obj: Obj, kind: str, status: str = "True") -> datetime | None:
    """When ``obj``'s status condition ``kind`` entered ``status`` (its lastTransitionTime), or None.

    None too when the condition is absent or in another status.
    """
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return parse_time(cond.get("lastTransitionTime")) if cond.get("status") == status else None
    return None


def controller_workload(pod: Obj) -> tuple[str, str] | None:
    """The workload (kind, name) that owns a pod: a ReplicaSet's pods belong to its Deployment.

    The Deployment's name is the ReplicaSet's name without its ``-<pod-template-hash>`` suffix.
    None for a pod without a controller.
    """
    meta = pod.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if not ref.get("controller"):
            continue
        kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
        suffix = "-" + str((meta.get("labels") or {}).get("pod-template-hash", ""))
        if kind == "ReplicaSet" and len(suffix) > 1 and name.endswith(suffix):
            return ("Deployment", name[: -len(suffix)])
        return (kind, name)
    return None
