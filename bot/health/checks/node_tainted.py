"""``node_tainted``: a node keeping a ``NoSchedule``/``NoExecute`` taint that is not a cordon.

Left out: the cordon taint (``node_cordoned`` covers it), the taints Kubernetes sets from a
node's conditions (not-ready, unreachable, pressure… — ``node_not_ready`` and ``node_pressure``
cover them), and the keys in ``ignored_keys`` (by default the control-plane role taints, which
are meant to stay). Since the oldest taint's ``timeAdded`` when the API recorded one, else since
the bot first saw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import ClusterSnapshot
from bot.kube_facts import Obj, parse_time

EFFECTS = frozenset({"NoSchedule", "NoExecute"})
#: Taints the node lifecycle controller sets from conditions, and the cordon's own.
SET_BY_KUBERNETES = frozenset(
    {
        "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/network-unavailable",
    }
)


class NodeTaintSettings(CheckSettings):
    """Taint keys that are meant to stay (dedicated pools, control-plane nodes) are ignored."""

    ignored_keys: list[str] = Field(
        default_factory=lambda: ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"]
    )


@dataclass(frozen=True, slots=True)
class Taint:
    """One taint of a node: ``key=value:effect`` and when it was added (if recorded)."""

    key: str
    text: str
    added: datetime | None


@dataclass(frozen=True, slots=True)
class TaintedNode:
    """What this check keeps of a node: its name and its taints that are not Kubernetes' own."""

    name: str
    taints: tuple[Taint, ...]


def tainted_node(obj: Obj) -> TaintedNode | None:
    """The node's scheduling taints other than the cordon's and the conditions' (None when it has none)."""
    taints = tuple(
        Taint(
            key=str(t.get("key")),
            text=f"{t.get('key')}{'=' + str(t['value']) if t.get('value') else ''}:{t.get('effect')}",
            added=parse_time(t.get("timeAdded")),
        )
        for t in (obj.get("spec") or {}).get("taints") or []
        if t.get("effect") in EFFECTS and t.get("key") not in SET_BY_KUBERNETES
    )
    return TaintedNode(obj["metadata"]["name"], taints) if taints else None


def find_tainted_nodes(snap: ClusterSnapshot, settings: NodeTaintSettings, now: datetime) -> list[Finding]:
    """One finding per node keeping such taints, since the oldest recorded ``timeAdded`` (if any)."""
    out = []
    for node in NODE_TAINTED.kept(snap):
        taints = [t for t in node.taints if t.key not in settings.ignored_keys]
        if not taints:
            continue
        added = [t.added for t in taints if t.added is not None]
        summary = f"node {node.name} is tainted {', '.join(t.text for t in taints)}"
        out.append(Finding("node_tainted", f"node/{node.name}", summary, settings.severity, min(added, default=None)))
    return out


NODE_TAINTED = Check(
    name="node_tainted",
    title="Node tainted for long",
    why="A NoSchedule/NoExecute taint keeps new pods off the node (and NoExecute evicts them): capacity "
    "nobody can use unless the taint is meant to stay — a maintenance or a test may have been forgotten.",
    duration=timedelta(hours=1),
    severity="info",
    resources=("nodes",),
    settings=NodeTaintSettings,
    find=find_tainted_nodes,
    keeps={"nodes": tainted_node},
)
