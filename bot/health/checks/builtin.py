"""The built-in health checks: the one registry, in the order checks are evaluated and documented.

Adding a check: a module defining its ``Check`` (and a test), plus its line here.
"""

from __future__ import annotations

from bot.health.checks.certificate_expiry import CERTIFICATE_EXPIRY
from bot.health.checks.cluster_unreachable import CLUSTER_UNREACHABLE
from bot.health.checks.control_plane import CONTROL_PLANE_EVEN_MEMBERS, CONTROL_PLANE_QUORUM
from bot.health.checks.daemonset_not_scheduled import DAEMONSET_NOT_SCHEDULED
from bot.health.checks.etcd_backup_age import ETCD_BACKUP_AGE
from bot.health.checks.hpa_maxed_out import HPA_MAXED_OUT
from bot.health.checks.job_failed import JOB_FAILED
from bot.health.checks.node_cordoned import NODE_CORDONED
from bot.health.checks.node_not_ready import NODE_NOT_READY
from bot.health.checks.node_pressure import NODE_PRESSURE
from bot.health.checks.node_tainted import NODE_TAINTED
from bot.health.checks.pdb_blocking import PDB_BLOCKING
from bot.health.checks.pod_multiple_pdbs import POD_MULTIPLE_PDBS
from bot.health.checks.pod_problems import CONTAINER_WAITING, POD_CRASH_LOOPING, POD_PENDING
from bot.health.checks.registry import CheckRegistry
from bot.health.checks.replicas_mismatch import REPLICAS_MISMATCH

HEALTH_CHECKS = CheckRegistry(
    [
        NODE_NOT_READY,
        NODE_PRESSURE,
        NODE_CORDONED,
        NODE_TAINTED,
        POD_CRASH_LOOPING,
        CONTAINER_WAITING,
        POD_PENDING,
        REPLICAS_MISMATCH,
        DAEMONSET_NOT_SCHEDULED,
        HPA_MAXED_OUT,
        PDB_BLOCKING,
        POD_MULTIPLE_PDBS,
        JOB_FAILED,
        CONTROL_PLANE_QUORUM,
        CONTROL_PLANE_EVEN_MEMBERS,
        CERTIFICATE_EXPIRY,
        ETCD_BACKUP_AGE,
        CLUSTER_UNREACHABLE,
    ]
)
