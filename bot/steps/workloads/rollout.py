"""Where a rollout stands (``kubectl rollout status``'s rules) and following one to its end.

``rollout_state`` is a pure function of the workload's JSON: done, still going (with the line
to show: "2 of 3 new pods available, 1 old pod left"), or failed (a Deployment whose
Progressing condition says ProgressDeadlineExceeded). ``follow_rollout`` watches the workload
(one list+watch, ``bot.clients.watch.ListWatch``) until done, failed, aborted or timed out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.clients.kube import KubeAccess
from bot.clients.watch import ListWatch
from bot.errors import AbortedError, PermanentError
from bot.model import Permission, WorkloadRef
from bot.steps.workloads.objects import RESOURCES, Obj

GROUP = "apps"


@dataclass(frozen=True)
class RolloutState:
    """Where a rollout stands."""

    done: bool
    line: str
    failed: str | None = None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _deployment(obj: Obj) -> RolloutState:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return RolloutState(False, "the rollout exceeded its progress deadline", cond.get("message") or "")
    replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < replicas:
        return RolloutState(False, f"{updated} of {_plural(replicas, 'new pod')} created, {available} available")
    if total > updated:
        return RolloutState(
            False, f"all {_plural(updated, 'new pod')} created; {_plural(total - updated, 'old pod')} left"
        )
    if available < updated:
        return RolloutState(False, f"{available} of {_plural(updated, 'new pod')} available")
    return RolloutState(True, f"{_plural(updated, 'new pod')} available, old pods gone")


def _statefulset(obj: Obj) -> RolloutState:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return RolloutState(True, "updateStrategy OnDelete: pods change only when deleted")
    replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    partition = int(((strategy.get("rollingUpdate") or {}).get("partition")) or 0)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    if ready < replicas:
        return RolloutState(False, f"{ready} of {_plural(replicas, 'pod')} ready, {updated} updated")
    if partition and updated < replicas - partition:
        return RolloutState(False, f"{updated} of {replicas - partition} pods above partition {partition} updated")
    if not partition and status.get("updateRevision") != status.get("currentRevision"):
        return RolloutState(False, f"{updated} of {_plural(replicas, 'pod')} updated")
    return RolloutState(True, f"{_plural(replicas, 'pod')} ready at revision {status.get('updateRevision', '?')}")


def _daemonset(obj: Obj) -> RolloutState:
    status = obj.get("status") or {}
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    if updated < desired:
        return RolloutState(False, f"{updated} of {_plural(desired, 'node')} updated")
    if available < desired:
        return RolloutState(False, f"{available} of {_plural(desired, 'updated pod')} available")
    return RolloutState(True, f"{_plural(desired, 'node')} updated and available")


def rollout_state(kind: str, obj: Obj) -> RolloutState:
    """kubectl rollout status's verdict for a Deployment, StatefulSet or DaemonSet."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return RolloutState(False, "waiting for the controller to see the change")
    return {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset}[kind](obj)


def watch_permissions(ref: WorkloadRef) -> list[Permission]:
    """list and watch on the one workload (RBAC matches a metadata.name field selector to the name)."""
    resource = RESOURCES[ref.kind]
    return [
        Permission(verb=v, resource=resource, group=GROUP, namespace=ref.namespace, name=ref.name)
        for v in ("list", "watch")
    ]


def list_call(kube: KubeAccess, kind: str) -> Callable[..., Any]:
    """The namespaced list method of ``kind``."""
    apps = kube.apps
    calls: dict[str, Callable[..., Any]] = {
        "Deployment": apps.list_namespaced_deployment,
        "StatefulSet": apps.list_namespaced_stateful_set,
        "DaemonSet": apps.list_namespaced_daemon_set,
    }
    return calls[kind]


def follow_rollout(
    kube: KubeAccess,
    ref: WorkloadRef,
    timeout: float,
    abort: threading.Event,
    progress: Callable[[str], None],
) -> RolloutState:
    """Watch ``ref`` until its rollout is done; PermanentError on failure or timeout, AbortedError on abort."""
    stop = threading.Event()
    watch = ListWatch(
        kube,
        list_call(kube, ref.kind),
        ref.namespace,
        stop=stop,
        name=f"rollout-{ref.name}",
        field_selector=f"metadata.name={ref.name}",
    ).start()
    deadline = time.monotonic() + timeout
    shown = ""
    try:
        while True:
            objs = watch.objects()
            if not objs:
                raise PermanentError(f"{ref} was deleted during the rollout")
            state = rollout_state(ref.kind, objs[0])
            if state.line != shown:
                progress(f"{ref}: {state.line}")
                shown = state.line
            if state.done:
                return state
            if state.failed is not None:
                raise PermanentError(f"{ref}: {state.line}: {state.failed}")
            if abort.is_set():
                raise AbortedError(f"stopped following {ref} ({state.line}); the rollout itself goes on")
            if time.monotonic() >= deadline:
                raise PermanentError(f"{ref} did not finish its rollout in time: {state.line}")
            watch.wait_until(_changed(watch, ref.kind, shown), min(deadline, time.monotonic() + 1.0))
    finally:
        stop.set()
        watch.close()


def _changed(watch: ListWatch, kind: str, shown: str) -> Callable[[], bool]:
    """A wait predicate: the workload's rollout line differs from ``shown`` (or it is gone)."""

    def predicate() -> bool:
        objs = watch.objects()
        return not objs or rollout_state(kind, objs[0]).line != shown

    return predicate
