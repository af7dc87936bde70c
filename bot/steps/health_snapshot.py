"""One sweep of a cluster: one paginated list per resource type, reduced to what the checks need.

Pages are read as raw JSON (no generated model classes) and each object is cut down to a small
record at once, so a sweep of 30,000 pods never holds more than one page of full objects.
Every check evaluates the same snapshot. A resource the bot may not list is recorded in
``errors``; the checks that need it are skipped for this sweep (and their alerts left as they
are), never evaluated against missing data.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from bot.clients.certs import CertificateInfo, cluster_certificates
from bot.clients.kube import KubeAccess
from bot.clients.retry import bounded_by
from bot.errors import TemporaryError
from bot.steps.facts import Obj, condition_since, controller_workload, node_state, parse_time, pod_status

log = logging.getLogger("bot.health")
RESOURCES = (
    "nodes",
    "pods",
    "deployments",
    "statefulsets",
    "daemonsets",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "jobs",
    "certificates",
)
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


@dataclass
class ClusterSnapshot:
    """Everything one sweep read from one cluster."""

    cluster: str
    taken_at: datetime
    nodes: list[NodeFacts] = field(default_factory=list)
    pods: list[PodFacts] = field(default_factory=list)
    workloads: list[WorkloadFacts] = field(default_factory=list)
    hpas: list[HpaFacts] = field(default_factory=list)
    pdbs: list[PdbFacts] = field(default_factory=list)
    jobs: list[JobFacts] = field(default_factory=list)
    certificates: list[CertificateInfo] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def has(self, *resources: str) -> bool:
        """True when every one of ``resources`` was read in this sweep."""
        return not any(r in self.errors for r in resources)


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while decoding list pages (re-entrant across threads).

    A page of 500 pods decodes into ~100,000 small dicts and lists, which triggers the cyclic
    collector over and over — and each full pass also walks every fact kept so far. Decoded JSON
    holds no reference cycles (reference counting frees it), so pausing the collector for the
    few seconds of a sweep loses nothing; it made a 30,000-pod sweep about 40% faster.
    """
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


SWEEP_RETRY_SECONDS = 30.0


class ClusterUnreachable(TemporaryError):
    """The cluster's API server could not be reached at all."""


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


def _listings(kube: KubeAccess) -> Iterator[tuple[str, Any, Callable[[Obj], Any], str]]:
    core, apps = kube.core, kube.apps
    yield "nodes", core.list_node, node_facts, "nodes"
    yield "pods", core.list_pod_for_all_namespaces, pod_facts, "pods"
    yield "deployments", apps.list_deployment_for_all_namespaces, workload_facts("Deployment"), "workloads"
    yield "statefulsets", apps.list_stateful_set_for_all_namespaces, workload_facts("StatefulSet"), "workloads"
    yield "daemonsets", apps.list_daemon_set_for_all_namespaces, workload_facts("DaemonSet"), "workloads"
    autoscaling = kube.api(client.AutoscalingV2Api)
    yield "horizontalpodautoscalers", autoscaling.list_horizontal_pod_autoscaler_for_all_namespaces, hpa_facts, "hpas"
    policy = kube.api(client.PolicyV1Api)
    yield "poddisruptionbudgets", policy.list_pod_disruption_budget_for_all_namespaces, pdb_facts, "pdbs"
    yield "jobs", kube.api(client.BatchV1Api).list_job_for_all_namespaces, job_facts, "jobs"


def list_calls(kube: KubeAccess) -> list[tuple[str, Any]]:
    """(resource, list call) of every resource a sweep lists — the benchmark's raw baseline."""
    return [(name, call) for name, call, _, _ in _listings(kube)]


def take_snapshot(
    kube: KubeAccess, now: datetime, *, page_size: int = 500, certificates: bool = True
) -> ClusterSnapshot:
    """List every resource type once (paginated) and reduce it; raises ClusterUnreachable.

    A resource that cannot be listed (forbidden, server error) is recorded in ``errors``.
    """
    snap = ClusterSnapshot(cluster=kube.cluster, taken_at=now)
    # Reads are retried (bot/clients/retry.py); one sweep spends at most this long on retries in all.
    with cyclic_gc_paused(), bounded_by(deadline=time.monotonic() + SWEEP_RETRY_SECONDS):
        _list_all(kube, snap, page_size)
    if certificates:
        try:
            snap.certificates = cluster_certificates(kube.api_client.configuration, timeout=kube.timeout)
        except (OSError, ValueError) as exc:
            snap.errors["certificates"] = f"cannot read certificates ({type(exc).__name__})"
    else:
        snap.errors["certificates"] = "not read"
    return snap


def _list_all(kube: KubeAccess, snap: ClusterSnapshot, page_size: int) -> None:
    """One paginated list per resource type into ``snap`` (errors recorded; unreachable raised)."""
    for resource, call, reduce, target in _listings(kube):
        items: list[Any] = getattr(snap, target)
        try:
            for obj in kube.list_raw(call, page_size=page_size):
                reduced = reduce(obj)
                if reduced is not None:
                    items.append(reduced)
        except ApiException as exc:
            why = "forbidden: the bot may not list it" if exc.status == 403 else f"HTTP {exc.status} {exc.reason}"
            snap.errors[resource] = why
            log.warning("cannot list for health checks", extra={"cluster": kube.cluster, "resource": resource})
        except (HTTPError, OSError) as exc:
            if resource == "nodes":
                why = f"cannot reach the API server of {kube.cluster}: {type(exc).__name__}"
                raise ClusterUnreachable(why) from None
            snap.errors[resource] = f"connection failed ({type(exc).__name__})"
