"""What a node's state means (seed 000's NotReady procedure), as findings with the runbooks that apply.

Pure functions over the node's JSON, its pods and its events: conditions (with reasons and
transition times), taints, pressure, kubelet version skew against the API server, crash-looping
pods, and resource usage when metrics.k8s.io answered. Each finding names the runbooks that
would address it — cordon, drain, replace-node, uncordon — as exact commands for buttons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.durations import ago
from bot.health.checks.findings import SuggestedRun
from bot.kube_facts import node_state, parse_time, pod_restarts, pod_status
from bot.report import Tone

Obj = dict[str, Any]
PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
PROBLEM_TAINTS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready", "node.kubernetes.io/out-of-disk")


@dataclass
class NodeFinding:
    """One thing wrong (or worth knowing) about a node, and what to run about it."""

    title: str
    tone: Tone
    lines: list[str] = field(default_factory=list)
    runs: list[SuggestedRun] = field(default_factory=list)


def condition_lines(node: Obj, now: datetime) -> list[str]:
    """``Ready=False (KubeletNotReady) since 2026-01-02 10:00 UTC (3h ago): message`` per condition."""
    out = []
    for c in (node.get("status") or {}).get("conditions") or []:
        since = parse_time(c.get("lastTransitionTime"))
        when = f" since {since:%Y-%m-%d %H:%M} UTC ({ago(since, now)})" if since else ""
        reason = f" ({c.get('reason')})" if c.get("reason") else ""
        message = f": {c.get('message')}" if c.get("message") else ""
        out.append(f"{c.get('type')}={c.get('status')}{reason}{when}{message}")
    return out


def taint_lines(node: Obj) -> list[str]:
    """``key=value:Effect (added …)`` per taint."""
    out = []
    for t in (node.get("spec") or {}).get("taints") or []:
        value = f"={t['value']}" if t.get("value") else ""
        added = f" (added {t['timeAdded']})" if t.get("timeAdded") else ""
        out.append(f"{t.get('key')}{value}:{t.get('effect')}{added}")
    return out


def version_skew(kubelet: str, apiserver: str | None) -> str | None:
    """A warning when the kubelet is newer than the API server or more than 3 minors older."""
    k, a = _minor(kubelet), _minor(apiserver or "")
    if k is None or a is None:
        return None
    if k > a:
        return f"kubelet {kubelet} is newer than the API server {apiserver}: unsupported"
    if a - k > 3:
        return (
            f"kubelet {kubelet} is {a - k} minor versions behind the API server {apiserver} (at most 3 are supported)"
        )
    return None


def _minor(version: str) -> int | None:
    m = re.match(r"v?1\.(\d+)", version)
    return int(m.group(1)) if m else None


def findings(node: Obj, pods: list[Obj], cluster: str, apiserver: str | None, now: datetime) -> list[NodeFinding]:
    """Every finding about the node, worst first."""
    state = node_state(node)
    name = state.name
    drain = SuggestedRun("drain", f"drain {name} --cluster {cluster}", "Drain", "danger")
    replace = SuggestedRun("replace-node", f"replace-node {name} --cluster {cluster}", "Replace node", "danger")
    cordon = SuggestedRun("cordon", f"cordon {name} --cluster {cluster}", "Cordon")
    out: list[NodeFinding] = []
    if not state.ready:
        runs = [drain, replace] if state.cordoned else [cordon, drain, replace]
        out.append(
            NodeFinding(
                f"{name} is {state.status}",
                Tone.ERROR,
                [line for line in condition_lines(node, now) if line.startswith("Ready=")]
                + ["seed 000: cordon it, drain it, and replace it if it does not come back"],
                runs,
            )
        )
    conditions = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
    pressure = [t for t in PRESSURES if (conditions.get(t) or {}).get("status") == "True"]
    if pressure:
        out.append(
            NodeFinding(
                f"{name} reports {', '.join(pressure)}",
                Tone.WARN,
                [f"{t}: {(conditions[t] or {}).get('message', '')}" for t in pressure],
                [drain] if state.cordoned else [cordon, drain],
            )
        )
    bad_taints = [t for t in taint_lines(node) if t.split("=")[0].split(":")[0] in PROBLEM_TAINTS]
    if bad_taints:
        out.append(NodeFinding("the node controller tainted it", Tone.WARN, bad_taints, []))
    crashing = [p for p in pods if pod_status(p).removeprefix("Init:") in ("CrashLoopBackOff", "Error")]
    if crashing:
        names = [
            f"{p['metadata']['namespace']}/{p['metadata']['name']} ({pod_status(p)}, {pod_restarts(p)} restarts)"
            for p in crashing
        ]
        out.append(
            NodeFinding(
                f"{len(crashing)} pod{'s' if len(crashing) != 1 else ''} crash-looping here",
                Tone.WARN,
                names[:10],
                [drain] if len(crashing) > 2 else [],
            )
        )
    skew = version_skew(state.kubelet_version, apiserver)
    if skew:
        out.append(NodeFinding("kubelet version skew", Tone.WARN, [skew], [replace]))
    if state.cordoned and state.ready and not pressure:
        out.append(
            NodeFinding(
                f"{name} is cordoned but healthy",
                Tone.INFO,
                ["no new pods are scheduled on it"],
                [SuggestedRun("uncordon", f"uncordon {name} --cluster {cluster}", "Uncordon")],
            )
        )
    return out
