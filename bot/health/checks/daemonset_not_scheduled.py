"""``daemonset_not_scheduled``: a DaemonSet whose pods are missing on nodes it should run on."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import ClusterSnapshot


def find_daemonsets_not_scheduled(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """One finding per DaemonSet scheduled on fewer nodes than desired."""
    return [
        Finding(
            "daemonset_not_scheduled",
            f"daemonset/{w.namespace}/{w.name}",
            f"daemonset/{w.name} in {w.namespace}: {w.desired - w.scheduled} of {w.desired} pods not scheduled",
            settings.severity,
        )
        for w in snap.workloads
        if w.kind == "DaemonSet" and w.scheduled < w.desired
    ]


DAEMONSET_NOT_SCHEDULED = Check(
    name="daemonset_not_scheduled",
    title="DaemonSet not scheduled",
    why="Some nodes lack this DaemonSet's pod (logging, networking, monitoring…).",
    duration=timedelta(minutes=10),
    severity="warning",
    resources=("daemonsets",),
    settings=CheckSettings,
    find=find_daemonsets_not_scheduled,
)
