"""Control-plane members vs their majority: ``control_plane_quorum`` and ``control_plane_even_members``.

Members are the control-plane nodes (Ready or not) and the etcd member pods (kubeadm-style:
kube-system, ``component=etcd``; healthy or not). Both checks count the same members.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import ClusterSnapshot


def members(snap: ClusterSnapshot) -> dict[str, list[bool]]:
    """What → whether each member is healthy; kinds without members are left out."""
    counted = {
        "control-plane nodes": [n.ready for n in snap.nodes if n.control_plane],
        "etcd members": [
            p.healthy for p in snap.pods if p.namespace == "kube-system" and p.labels.get("component") == "etcd"
        ],
    }
    return {what: states for what, states in counted.items() if states}


def _subject(what: str) -> str:
    return f"control-plane/{what.split()[0]}"


def find_quorum_at_risk(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """Healthy members below a majority of their total."""
    out = []
    for what, states in members(snap).items():
        total, ready = len(states), sum(states)
        majority = total // 2 + 1
        if ready < majority:
            summary = f"{ready} of {total} {what} healthy: below the majority of {majority}"
            out.append(Finding("control_plane_quorum", _subject(what), summary, settings.severity))
    return out


def find_even_members(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """An even number of members."""
    return [
        Finding(
            "control_plane_even_members",
            _subject(what),
            f"{len(states)} {what}: an even count (run {len(states) - 1} or {len(states) + 1})",
            settings.severity,
        )
        for what, states in members(snap).items()
        if len(states) % 2 == 0
    ]


CONTROL_PLANE_QUORUM = Check(
    name="control_plane_quorum",
    title="Control-plane quorum at risk",
    why="Fewer than a majority of control-plane members are healthy: etcd cannot commit writes and the "
    "cluster API stops accepting changes.",
    duration=timedelta(minutes=3),
    severity="critical",
    resources=("nodes", "pods"),
    settings=CheckSettings,
    find=find_quorum_at_risk,
)
CONTROL_PLANE_EVEN_MEMBERS = Check(
    name="control_plane_even_members",
    title="Even number of control-plane members",
    why="An even number of members tolerates no more failures than one fewer, and splits badly: run an odd number.",
    duration=timedelta(hours=1),
    severity="warning",
    resources=("nodes", "pods"),
    settings=CheckSettings,
    find=find_even_members,
)
