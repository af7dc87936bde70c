"""What the health checks report: findings, the runbooks that would fix them, and why they matter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SuggestedRun:
    """A runbook that would address a finding: the exact command and its button label."""

    runbook: str
    command: str
    label: str
    style: str | None = None


@dataclass(frozen=True)
class Finding:
    """One problem on one subject, found in one sweep."""

    check: str
    subject: str
    summary: str
    severity: str
    since: datetime | None = None
    details: tuple[str, ...] = ()
    actions: tuple[SuggestedRun, ...] = ()


@dataclass(frozen=True)
class BackupStatus:
    """The newest successful etcd backup of a cluster, and how old it may be."""

    last_success: datetime | None
    source: str
    max_age: timedelta


@dataclass
class Evaluation:
    """The findings of one sweep of one cluster, and which checks were evaluated."""

    findings: list[Finding] = field(default_factory=list)
    evaluated: set[str] = field(default_factory=set)
    skipped: dict[str, str] = field(default_factory=dict)  # check → why


#: Why each check matters — shown in its alert.
WHY: dict[str, str] = {
    "node_not_ready": "Pods on a NotReady node are not serving and are evicted after the toleration "
    "(5 min by default); capacity is lost until the node returns or is replaced.",
    "node_pressure": "The kubelet is short of memory, disk or PIDs: it evicts pods and refuses new ones.",
    "node_cordoned": "A node left cordoned is capacity nobody can use; maintenance may have been forgotten.",
    "pod_crash_looping": "Containers keep crashing: the workload is degraded or down.",
    "container_waiting": "Containers cannot start (image pull, config error…): new replicas never become ready.",
    "pod_pending": "Pods cannot be scheduled or started: the workload runs short of replicas.",
    "replicas_mismatch": "The workload has fewer ready replicas than it asks for.",
    "daemonset_not_scheduled": "Some nodes lack this DaemonSet's pod (logging, networking, monitoring…).",
    "hpa_maxed_out": "The autoscaler wants more replicas than its maximum: load may exceed capacity.",
    "pdb_blocking": "This PodDisruptionBudget allows no disruption: every drain and node replacement will block.",
    "pod_multiple_pdbs": "Pods covered by more than one PodDisruptionBudget cannot be evicted at all "
    "(the API answers 500): drains fail.",
    "job_failed": "A Job gave up: its work (a backup, a migration, a report…) did not happen.",
    "control_plane_quorum": "Fewer than a majority of control-plane members are healthy: etcd cannot "
    "commit writes and the cluster API stops accepting changes.",
    "control_plane_even_members": "An even number of members tolerates no more failures than one fewer, "
    "and splits badly: run an odd number.",
    "certificate_expiry": "When it expires, clients (kubectl, controllers, this bot) can no longer talk "
    "to the API server.",
    "etcd_backup_age": "Without a recent etcd backup, losing the control plane means losing the cluster state.",
    "cluster_unreachable": "The bot cannot read this cluster: no other check can run, and runbooks will fail.",
}
