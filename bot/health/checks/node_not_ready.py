"""``node_not_ready``: a node that is not Ready and not cordoned (a cordoned node is maintenance)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding, SuggestedRun
from bot.health.checks.snapshot import ClusterSnapshot


def find_not_ready_nodes(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """One finding per NotReady node, since its Ready condition changed; drain and replace offered first."""
    out = []
    for n in snap.nodes:
        if n.ready or n.cordoned:
            continue
        actions = (
            SuggestedRun("drain", f"drain {n.name} --cluster {snap.cluster}", f"Drain {n.name}", "danger"),
            SuggestedRun(
                "replace-node", f"replace-node {n.name} --cluster {snap.cluster}", f"Replace {n.name}", "danger"
            ),
            SuggestedRun("pods", f"pods {n.name} --cluster {snap.cluster}", f"Pods on {n.name}"),
        )
        summary = f"node {n.name} is {n.ready_reason}" + (" (control plane)" if n.control_plane else "")
        out.append(
            Finding("node_not_ready", f"node/{n.name}", summary, settings.severity, n.ready_since, actions=actions)
        )
    return out


NODE_NOT_READY = Check(
    name="node_not_ready",
    title="Node NotReady",
    why="Pods on a NotReady node are not serving and are evicted after the toleration (5 min by default); "
    "capacity is lost until the node returns or is replaced.",
    duration=timedelta(minutes=15),
    severity="warning",
    resources=("nodes",),
    settings=CheckSettings,
    find=find_not_ready_nodes,
)
