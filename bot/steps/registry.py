"""The step registry: an object built at startup, never a class-global."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.steps.base import Step


class StepRegistry:
    """Maps step names (``kubernetes.cordon``) to executor instances."""

    def __init__(self, steps: Iterable[Step[Any]] = ()) -> None:
        self._steps: dict[str, Step[Any]] = {}
        for step in steps:
            self.register(step)

    def register(self, step: Step[Any]) -> None:
        """Add ``step``; a second step with the same name is a programming error."""
        if step.name in self._steps:
            raise ValueError(f"step {step.name!r} registered twice")
        self._steps[step.name] = step

    def get(self, name: str) -> Step[Any] | None:
        """The step called ``name``, or None."""
        return self._steps.get(name)

    def names(self) -> list[str]:
        """Every registered step name, sorted."""
        return sorted(self._steps)


def default_registry() -> StepRegistry:
    """The built-in executors."""
    from bot.steps.backup import EtcdBackup, ListBackups, RestoreChecklist, VerifyBackup
    from bot.steps.canary import CanaryTraffic
    from bot.steps.drain import EvictPods
    from bot.steps.health_report import HealthReport
    from bot.steps.history import AuditLog, RecentRuns
    from bot.steps.kube_change import Cordon, DeletePod, Uncordon
    from bot.steps.kube_read import ClusterStatus, ListNodes, PodsOnNode
    from bot.steps.meta import Help, WhoAmI
    from bot.steps.replace_node import ClaimGroup, DeleteNode, TerminateInstance, WaitReplacementNode
    from bot.steps.triage import TriageNode
    from bot.steps.workloads import (
        PodLogs,
        RestartFailedPods,
        RestartWorkload,
        RollbackDeployment,
        RolloutStatus,
        ScaleWorkload,
    )

    return StepRegistry(
        [
            Help(),
            WhoAmI(),
            RecentRuns(),
            AuditLog(),
            ClusterStatus(),
            ListNodes(),
            PodsOnNode(),
            Cordon(),
            Uncordon(),
            DeletePod(),
            EvictPods(),
            ClaimGroup(),
            TerminateInstance(),
            WaitReplacementNode(),
            DeleteNode(),
            HealthReport(),
            EtcdBackup(),
            ListBackups(),
            VerifyBackup(),
            RestoreChecklist(),
            CanaryTraffic(),
            ScaleWorkload(),
            RestartWorkload(),
            RolloutStatus(),
            RollbackDeployment(),
            RestartFailedPods(),
            PodLogs(),
            TriageNode(),
        ]
    )
