"""Pods in trouble, one finding per workload (not per pod): crash-looping, waiting, pending.

The three checks share the grouping: pods with a problem are grouped by the workload owning
them (a ReplicaSet's by its Deployment), with a few examples and the earliest start.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.facts import PodFacts
from bot.health.checks.findings import Finding, SuggestedRun
from bot.health.checks.snapshot import ClusterSnapshot

EXAMPLES = 5


def _workload_key(pod: PodFacts) -> tuple[str, str]:
    """(subject, display) grouping a pod's problem by its owning workload."""
    assert pod.trouble is not None
    if pod.trouble.workload is None:
        return f"pod/{pod.namespace}/{pod.name}", f"pod {pod.namespace}/{pod.name}"
    kind, name = pod.trouble.workload
    return f"{kind.lower()}/{pod.namespace}/{name}", f"{kind.lower()}/{name} in {pod.namespace}"


def pod_group_findings(
    snap: ClusterSnapshot,
    check: str,
    severity: str,
    select: Callable[[PodFacts], str | None],
    what: str,
    actions: Callable[[PodFacts, str], tuple[SuggestedRun, ...]] = lambda _pod, _cluster: (),
) -> list[Finding]:
    """One finding per workload whose pods match ``select`` (which returns the pod's reason)."""
    groups: dict[str, list[tuple[PodFacts, str]]] = defaultdict(list)
    shown: dict[str, str] = {}
    for pod in snap.pods:
        if pod.trouble is None:
            continue
        reason = select(pod)
        if reason is None:
            continue
        subject, display = _workload_key(pod)
        groups[subject].append((pod, reason))
        shown[subject] = display
    out = []
    for subject, pods in sorted(groups.items()):
        reasons = sorted({r for _, r in pods})
        since_values = [p.trouble.pending_since for p, _ in pods if p.trouble and p.trouble.pending_since]
        out.append(
            Finding(
                check=check,
                subject=subject,
                summary=f"{shown[subject]}: {len(pods)} pod{'s' if len(pods) != 1 else ''} {what} "
                f"({', '.join(reasons)})",
                severity=severity,
                since=min(since_values) if since_values else None,
                details=tuple(f"{p.namespace}/{p.name}: {p.trouble.status if p.trouble else r}" for p, r in pods)[
                    :EXAMPLES
                ],
                actions=actions(pods[0][0], snap.cluster),
            )
        )
    return out


def _crash_looping(pod: PodFacts) -> str | None:
    return "CrashLoopBackOff" if pod.trouble and pod.trouble.crash_looping else None


def _restart_or_delete(pod: PodFacts, cluster: str) -> tuple[SuggestedRun, ...]:
    """Restart the workload's failed pods (when it has a controller), else delete the pod."""
    runs = []
    if pod.trouble and pod.trouble.workload:
        kind, name = pod.trouble.workload
        command = f"restart-failed {kind.lower()}/{name} -n {pod.namespace} --cluster {cluster}"
        runs.append(SuggestedRun("restart-failed", command, f"Restart failed pods of {name}"))
    command = f"delete-pod {pod.name} -n {pod.namespace} --cluster {cluster}"
    runs.append(SuggestedRun("delete-pod", command, f"Delete pod {pod.name}"))
    return tuple(runs)


def find_crash_looping(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """Workloads with pods in CrashLoopBackOff."""
    return pod_group_findings(
        snap, "pod_crash_looping", settings.severity, _crash_looping, "crash-looping", _restart_or_delete
    )


def _waiting(pod: PodFacts) -> str | None:
    trouble = pod.trouble
    return trouble.waiting[0] if trouble and trouble.waiting and not trouble.crash_looping else None


def find_waiting(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """Workloads with containers waiting (ImagePullBackOff, CreateContainerConfigError…)."""
    return pod_group_findings(snap, "container_waiting", settings.severity, _waiting, "with containers waiting")


def _pending(pod: PodFacts) -> str | None:
    trouble = pod.trouble
    if trouble and trouble.pending and not trouble.waiting and not trouble.crash_looping:
        return trouble.status
    return None


def find_pending(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """Workloads with pods Pending (unschedulable or not started)."""
    return pod_group_findings(snap, "pod_pending", settings.severity, _pending, "pending")


POD_CRASH_LOOPING = Check(
    name="pod_crash_looping",
    title="Pods crash-looping",
    why="Containers keep crashing: the workload is degraded or down.",
    duration=timedelta(minutes=15),
    severity="warning",
    resources=("pods",),
    settings=CheckSettings,
    find=find_crash_looping,
)
CONTAINER_WAITING = Check(
    name="container_waiting",
    title="Containers waiting",
    why="Containers cannot start (image pull, config error…): new replicas never become ready.",
    duration=timedelta(hours=1),
    severity="warning",
    resources=("pods",),
    settings=CheckSettings,
    find=find_waiting,
)
POD_PENDING = Check(
    name="pod_pending",
    title="Pods pending",
    why="Pods cannot be scheduled or started: the workload runs short of replicas.",
    duration=timedelta(minutes=15),
    severity="warning",
    resources=("pods",),
    settings=CheckSettings,
    find=find_pending,
)
