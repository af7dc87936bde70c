"""Workload runbooks' executors: scale, restart and rollout status, rollback, restart-failed, logs.

Shared pieces: ``objects`` (read/patch a Deployment/StatefulSet/DaemonSet as JSON), ``rollout``
(kubectl rollout status's rules, and following a rollout with one list+watch), ``revisions``
(a Deployment's ReplicaSets), ``hpa`` (autoscalers that manage a workload), ``redact`` (secrets in logs).
"""

from bot.steps.workloads.logs import PodLogs
from bot.steps.workloads.restart import RestartWorkload, RolloutStatus
from bot.steps.workloads.restart_failed import RestartFailedPods
from bot.steps.workloads.rollback import RollbackDeployment
from bot.steps.workloads.scale import ScaleWorkload

__all__ = ["PodLogs", "RestartFailedPods", "RestartWorkload", "RollbackDeployment", "RolloutStatus", "ScaleWorkload"]
