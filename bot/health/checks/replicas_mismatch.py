"""``replicas_mismatch``: a Deployment or StatefulSet with fewer ready replicas than desired."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import ClusterSnapshot


def find_replicas_missing(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """One finding per Deployment/StatefulSet short of ready replicas."""
    return [
        Finding(
            "replicas_mismatch",
            f"{w.kind.lower()}/{w.namespace}/{w.name}",
            f"{w.kind.lower()}/{w.name} in {w.namespace}: {w.ready}/{w.desired} replicas ready",
            settings.severity,
        )
        for w in snap.workloads
        if w.kind != "DaemonSet" and w.ready < w.desired
    ]


REPLICAS_MISMATCH = Check(
    name="replicas_mismatch",
    title="Replicas missing",
    why="The workload has fewer ready replicas than it asks for.",
    duration=timedelta(minutes=15),
    severity="warning",
    resources=("deployments", "statefulsets"),
    settings=CheckSettings,
    find=find_replicas_missing,
)
