"""``node_pressure``: a node whose kubelet reports memory, disk or PID pressure."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding, SuggestedRun
from bot.health.checks.snapshot import ClusterSnapshot


def find_nodes_under_pressure(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """One finding per node under pressure, since the earliest pressure condition began."""
    return [
        Finding(
            "node_pressure",
            f"node/{n.name}",
            f"node {n.name} reports {', '.join(n.pressures)}",
            settings.severity,
            n.pressure_since,
            actions=(SuggestedRun("pods", f"pods {n.name} --cluster {snap.cluster}", f"Pods on {n.name}"),),
        )
        for n in snap.nodes
        if n.pressures
    ]


NODE_PRESSURE = Check(
    name="node_pressure",
    title="Node under pressure",
    why="The kubelet is short of memory, disk or PIDs: it evicts pods and refuses new ones.",
    duration=timedelta(minutes=10),
    severity="info",
    resources=("nodes",),
    settings=CheckSettings,
    find=find_nodes_under_pressure,
)
