"""The health checks: pure functions from a cluster snapshot to findings.

A ``Finding`` is one problem on one subject *now*; how long it must last before anyone is told
(its duration) is the alert lifecycle's business (``bot.health``). Problems of many pods of one
workload are one finding (one alert per problem, not one per pod). Each finding names the
runbooks that would fix it, best first; the alert offers those that exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.config.health import ChecksSettings
from bot.durations import human_duration
from bot.selectors import label_selector_matches
from bot.steps.health_findings import WHY, BackupStatus, Evaluation, Finding, SuggestedRun
from bot.steps.health_snapshot import ClusterSnapshot, PodFacts

EXAMPLES = 5
__all__ = ["WHY", "BackupStatus", "Evaluation", "Finding", "SuggestedRun", "evaluate"]


def _workload_key(pod: PodFacts) -> tuple[str, str]:
    """(subject, display) grouping a pod's problem by its owning workload."""
    assert pod.trouble is not None
    if pod.trouble.workload is None:
        return f"pod/{pod.namespace}/{pod.name}", f"pod {pod.namespace}/{pod.name}"
    kind, name = pod.trouble.workload
    return f"{kind.lower()}/{pod.namespace}/{name}", f"{kind.lower()}/{name} in {pod.namespace}"


def _pod_group_findings(
    snap: ClusterSnapshot,
    check: str,
    severity: str,
    select: Callable[[PodFacts], str | None],
    what: str,
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
        first = pods[0][0]
        reasons = sorted({r for _, r in pods})
        since_values = [p.trouble.pending_since for p, _ in pods if p.trouble and p.trouble.pending_since]
        actions: list[SuggestedRun] = []
        if first.trouble and first.trouble.workload and check == "pod_crash_looping":
            kind, name = first.trouble.workload
            actions.append(
                SuggestedRun(
                    "restart-failed",
                    f"restart-failed {kind.lower()}/{name} -n {first.namespace} --cluster {snap.cluster}",
                    f"Restart failed pods of {name}",
                )
            )
        if check == "pod_crash_looping":
            actions.append(
                SuggestedRun(
                    "delete-pod",
                    f"delete-pod {first.name} -n {first.namespace} --cluster {snap.cluster}",
                    f"Delete pod {first.name}",
                )
            )
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
                actions=tuple(actions),
            )
        )
    return out


def check_nodes(snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """NotReady (not cordoned), under pressure, cordoned."""
    out: list[Finding] = []
    for n in snap.nodes:
        if not n.ready and not n.cordoned and cfg.node_not_ready.enabled:
            out.append(
                Finding(
                    "node_not_ready",
                    f"node/{n.name}",
                    f"node {n.name} is {n.ready_reason}" + (" (control plane)" if n.control_plane else ""),
                    cfg.node_not_ready.severity,
                    n.ready_since,
                    actions=(
                        SuggestedRun("drain", f"drain {n.name} --cluster {snap.cluster}", f"Drain {n.name}", "danger"),
                        SuggestedRun(
                            "replace-node",
                            f"replace-node {n.name} --cluster {snap.cluster}",
                            f"Replace {n.name}",
                            "danger",
                        ),
                        SuggestedRun("pods", f"pods {n.name} --cluster {snap.cluster}", f"Pods on {n.name}"),
                    ),
                )
            )
        if n.pressures and cfg.node_pressure.enabled:
            out.append(
                Finding(
                    "node_pressure",
                    f"node/{n.name}",
                    f"node {n.name} reports {', '.join(n.pressures)}",
                    cfg.node_pressure.severity,
                    n.pressure_since,
                    actions=(SuggestedRun("pods", f"pods {n.name} --cluster {snap.cluster}", f"Pods on {n.name}"),),
                )
            )
        if n.cordoned and cfg.node_cordoned.enabled:
            out.append(
                Finding(
                    "node_cordoned",
                    f"node/{n.name}",
                    f"node {n.name} is cordoned" + ("" if n.ready else f" and {n.ready_reason}"),
                    cfg.node_cordoned.severity,
                    n.cordoned_since,
                    actions=(
                        SuggestedRun("uncordon", f"uncordon {n.name} --cluster {snap.cluster}", f"Uncordon {n.name}"),
                    ),
                )
            )
    return out


def check_pods(snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """CrashLoopBackOff, containers waiting, pods pending — grouped by workload."""
    out: list[Finding] = []
    if cfg.pod_crash_looping.enabled:
        out += _pod_group_findings(
            snap,
            "pod_crash_looping",
            cfg.pod_crash_looping.severity,
            lambda p: "CrashLoopBackOff" if p.trouble and p.trouble.crash_looping else None,
            "crash-looping",
        )
    if cfg.container_waiting.enabled:
        out += _pod_group_findings(
            snap,
            "container_waiting",
            cfg.container_waiting.severity,
            lambda p: p.trouble.waiting[0] if p.trouble and p.trouble.waiting and not p.trouble.crash_looping else None,
            "with containers waiting",
        )
    if cfg.pod_pending.enabled:
        out += _pod_group_findings(
            snap,
            "pod_pending",
            cfg.pod_pending.severity,
            lambda p: (
                p.trouble.status
                if p.trouble and p.trouble.pending and not p.trouble.waiting and not p.trouble.crash_looping
                else None
            ),
            "pending",
        )
    return out


def check_daemonsets(snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """DaemonSets whose pods are not scheduled on every node they should run on."""
    c = cfg.daemonset_not_scheduled
    return [
        Finding(
            "daemonset_not_scheduled",
            f"daemonset/{w.namespace}/{w.name}",
            f"daemonset/{w.name} in {w.namespace}: {w.desired - w.scheduled} of {w.desired} pods not scheduled",
            c.severity,
        )
        for w in snap.workloads
        if w.kind == "DaemonSet" and w.scheduled < w.desired
    ]


def check_replicas(snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """Deployments and StatefulSets with fewer ready replicas than desired."""
    return [
        Finding(
            "replicas_mismatch",
            f"{w.kind.lower()}/{w.namespace}/{w.name}",
            f"{w.kind.lower()}/{w.name} in {w.namespace}: {w.ready}/{w.desired} replicas ready",
            cfg.replicas_mismatch.severity,
        )
        for w in snap.workloads
        if w.kind != "DaemonSet" and w.ready < w.desired
    ]


def check_hpas(snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """Autoscalers running at their maximum (and able to scale: max above min)."""
    return [
        Finding(
            "hpa_maxed_out",
            f"hpa/{h.namespace}/{h.name}",
            f"HPA {h.name} in {h.namespace} runs {h.target} at its maximum of {h.maximum} replicas",
            cfg.hpa_maxed_out.severity,
            h.limited_since,
        )
        for h in snap.hpas
        if h.maximum > h.minimum and h.current >= h.maximum
    ]


def check_jobs(snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """Jobs that failed."""
    return [
        Finding(
            "job_failed",
            f"job/{j.namespace}/{j.name}",
            f"job {j.name} in {j.namespace} failed ({j.reason})" + (f", from cronjob {j.owner}" if j.owner else ""),
            cfg.job_failed.severity,
            j.failed_since,
        )
        for j in snap.jobs
    ]


def check_pdb_blocking(snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """PDBs that allow no disruption while covering pods."""
    return [
        Finding(
            "pdb_blocking",
            f"pdb/{p.namespace}/{p.name}",
            f"PDB {p.name} in {p.namespace} allows 0 disruptions ({p.expected} pods covered)",
            cfg.pdb_blocking.severity,
            p.blocked_since,
        )
        for p in snap.pdbs
        if p.allowed == 0 and p.expected > 0
    ]


def check_multiple_pdbs(snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """Pods covered by more than one PDB (their eviction fails with 500), grouped by the PDBs involved."""
    by_ns: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for p in snap.pdbs:
        if p.selector is not None:
            by_ns[p.namespace].append((p.name, p.selector))
    overlaps: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for pod in snap.pods:
        candidates = by_ns.get(pod.namespace)
        if not candidates or len(candidates) < 2:
            continue
        names = tuple(sorted(n for n, sel in candidates if label_selector_matches(sel, pod.labels)))
        if len(names) > 1:
            overlaps[(pod.namespace, names)].append(pod.name)
    return [
        Finding(
            "pod_multiple_pdbs",
            f"pdb/{ns}/{'+'.join(names)}",
            f"{len(pods)} pod{'s' if len(pods) != 1 else ''} in {ns} covered by PDBs {', '.join(names)}",
            cfg.pod_multiple_pdbs.severity,
            details=tuple(pods[:EXAMPLES]),
        )
        for (ns, names), pods in sorted(overlaps.items())
    ]


def check_control_plane(snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """Control-plane nodes and etcd member pods (kubeadm-style, kube-system component=etcd) vs majority."""
    out: list[Finding] = []
    members = {
        "control-plane nodes": [n.ready for n in snap.nodes if n.control_plane],
        "etcd members": [
            p.healthy for p in snap.pods if p.namespace == "kube-system" and p.labels.get("component") == "etcd"
        ],
    }
    for what, states in members.items():
        total, ready = len(states), sum(states)
        if not total:
            continue
        majority = total // 2 + 1
        subject = f"control-plane/{what.split()[0]}"
        if cfg.control_plane_quorum.enabled and ready < majority:
            out.append(
                Finding(
                    "control_plane_quorum",
                    subject,
                    f"{ready} of {total} {what} healthy: below the majority of {majority}",
                    cfg.control_plane_quorum.severity,
                )
            )
        if cfg.control_plane_even_members.enabled and total % 2 == 0:
            out.append(
                Finding(
                    "control_plane_even_members",
                    subject,
                    f"{total} {what}: an even count (run {total - 1} or {total + 1})",
                    cfg.control_plane_even_members.severity,
                )
            )
    return out


def check_certificates(snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """Serving and client certificates expiring within the warning / critical windows."""
    c = cfg.certificate_expiry
    out = []
    for cert in snap.certificates if c.enabled else []:
        left = cert.not_after - now
        if left > c.warn_before:
            continue
        critical = left <= c.critical_before
        when = "expired" if left.total_seconds() <= 0 else f"expires in {human_duration(left)}"
        kind = "serving" if "serving" in cert.source else "client"
        out.append(
            Finding(
                "certificate_expiry",
                f"certificate/{kind}/{cert.subject}",
                f"{cert.source} ({cert.subject}) {when}, at {cert.not_after:%Y-%m-%d %H:%M} UTC",
                "critical" if critical else c.severity,
                cert.not_after - (c.critical_before if critical else c.warn_before),
            )
        )
    return out


def check_backup(backup: BackupStatus, cfg: ChecksSettings, now: datetime) -> list[Finding]:
    """The newest successful etcd backup is older than allowed (or there is none)."""
    c = cfg.etcd_backup_age
    if not c.enabled:
        return []
    if backup.last_success is None:
        return [
            Finding(
                "etcd_backup_age", "etcd-backup", f"no successful etcd backup recorded ({backup.source})", c.severity
            )
        ]
    age = now - backup.last_success
    if age <= backup.max_age:
        return []
    return [
        Finding(
            "etcd_backup_age",
            "etcd-backup",
            f"last successful etcd backup is {human_duration(age)} old (allowed {human_duration(backup.max_age)}; "
            f"{backup.source})",
            c.severity,
            backup.last_success + backup.max_age,
        )
    ]


#: Snapshot checks: (check names they produce, resources they need, function).
CheckFn = Callable[[ClusterSnapshot, ChecksSettings, datetime], list[Finding]]
SNAPSHOT_CHECKS: tuple[tuple[tuple[str, ...], tuple[str, ...], CheckFn], ...] = (
    (("node_not_ready", "node_pressure", "node_cordoned"), ("nodes",), check_nodes),
    (("pod_crash_looping", "container_waiting", "pod_pending"), ("pods",), check_pods),
    (("replicas_mismatch",), ("deployments", "statefulsets"), check_replicas),
    (("daemonset_not_scheduled",), ("daemonsets",), check_daemonsets),
    (("hpa_maxed_out",), ("horizontalpodautoscalers",), check_hpas),
    (("job_failed",), ("jobs",), check_jobs),
    (("pdb_blocking",), ("poddisruptionbudgets",), check_pdb_blocking),
    (("pod_multiple_pdbs",), ("poddisruptionbudgets", "pods"), check_multiple_pdbs),
    (("control_plane_quorum", "control_plane_even_members"), ("nodes", "pods"), check_control_plane),
    (("certificate_expiry",), ("certificates",), check_certificates),
)


def evaluate(
    snap: ClusterSnapshot, cfg: ChecksSettings, now: datetime, backup: BackupStatus | None = None
) -> Evaluation:
    """Run every enabled check whose resources were read; say which ran and which were skipped."""
    result = Evaluation()
    for names, needs, fn in SNAPSHOT_CHECKS:
        enabled = {n for n in names if cfg.get(n).enabled}
        if not enabled:
            continue
        missing = [r for r in needs if r in snap.errors]
        if missing:
            why = "; ".join(f"{r}: {snap.errors[r]}" for r in missing)
            result.skipped.update(dict.fromkeys(enabled, why))
            continue
        result.evaluated |= enabled
        result.findings += [f for f in fn(snap, cfg, now) if f.check in enabled]
    if backup is not None and cfg.etcd_backup_age.enabled:
        result.evaluated.add("etcd_backup_age")
        result.findings += check_backup(backup, cfg, now)
    return result
