"""``node_cordoned``: a node left cordoned (since the cordon taint's ``timeAdded``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding, SuggestedRun
from bot.health.checks.snapshot import ClusterSnapshot


def find_cordoned_nodes(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """One finding per cordoned node, offering to uncordon it."""
    return [
        Finding(
            "node_cordoned",
            f"node/{n.name}",
            f"node {n.name} is cordoned" + ("" if n.ready else f" and {n.ready_reason}"),
            settings.severity,
            n.cordoned_since,
            actions=(SuggestedRun("uncordon", f"uncordon {n.name} --cluster {snap.cluster}", f"Uncordon {n.name}"),),
        )
        for n in snap.nodes
        if n.cordoned
    ]


NODE_CORDONED = Check(
    name="node_cordoned",
    title="Node cordoned for long",
    why="A node left cordoned is capacity nobody can use; maintenance may have been forgotten.",
    duration=timedelta(hours=24),
    severity="info",
    resources=("nodes",),
    settings=CheckSettings,
    find=find_cordoned_nodes,
)
