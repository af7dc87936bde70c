"""``kubernetes.triage_node``: everything an on-call engineer checks first about one node.

Conditions with reasons and transition times, taints, pressure, kubelet version (and its skew
against the API server), the node's recent events, its pods by restart count, and CPU/memory
usage when ``metrics.k8s.io`` is served. Each finding carries buttons for the runbooks that
apply (cordon, drain, replace-node, uncordon); clicking one requests that command as the clicker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from bot.durations import ago
from bot.kube_facts import node_state, parse_time, pod_restarts, pod_status
from bot.model import Permission
from bot.report import Action, Report, Tone
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.triage.findings import condition_lines, findings, taint_lines

Obj = dict[str, Any]
EVENTS_SHOWN = 10
PODS_SHOWN = 10


class TriageParams(BaseModel):
    """The node to look at."""

    model_config = ConfigDict(extra="forbid")
    node: str = Field(description="the node to look at")


def quantity(value: str) -> float:
    """A Kubernetes quantity as a number (cores for CPU, bytes for memory)."""
    units = {
        "n": 1e-9,
        "u": 1e-6,
        "m": 1e-3,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
    }
    for suffix in sorted(units, key=len, reverse=True):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * units[suffix]
    return float(value)


def usage_lines(metrics: Obj, node: Obj) -> list[str]:
    """``CPU 1.2 of 4 cores (30%)``, ``memory 3.1 of 16.0 GiB (19%)`` from NodeMetrics and allocatable."""
    usage, allocatable = metrics.get("usage") or {}, (node.get("status") or {}).get("allocatable") or {}
    out = []
    for key, unit, scale in (("cpu", "cores", 1.0), ("memory", "GiB", 2**30)):
        if key in usage and key in allocatable:
            used, total = quantity(usage[key]) / scale, quantity(allocatable[key]) / scale
            share = f" ({100 * used / total:.0f}%)" if total else ""
            out.append(f"{key.upper() if key == 'cpu' else key} {used:.1f} of {total:.1f} {unit}{share}")
    return out


class TriageNode(Step[TriageParams]):
    """Node triage: state, events, pods, usage, and the runbooks that apply."""

    name = "kubernetes.triage_node"
    Params = TriageParams
    summary = "triage a node: conditions, taints, events, pods, usage, and what to run"

    def static_permissions(self, params: TriageParams | None) -> list[Permission]:
        return [
            Permission(verb="get", resource="nodes", name=params.node if params else None),
            Permission(verb="list", resource="pods"),
            Permission(verb="list", resource="events"),
        ]

    def plan(self, ctx: StepContext, params: TriageParams) -> StepPlan:
        return StepPlan(
            description=f"read node {params.node}, its events, pods and usage",
            permissions=self.static_permissions(params),
        )

    def run(self, ctx: StepContext, params: TriageParams) -> Report:
        kube, now = ctx.kube, datetime.now(UTC)
        node: Obj = kube.api_client.sanitize_for_serialization(
            kube.core.read_node(params.node, _request_timeout=kube.timeout)
        )
        pods = list(kube.list_raw(kube.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={params.node}"))
        events = list(
            kube.list_raw(
                kube.core.list_event_for_all_namespaces,
                field_selector=f"involvedObject.kind=Node,involvedObject.name={params.node}",
            )
        )
        state = node_state(node)
        apiserver = _apiserver_version(kube)
        report = Report(
            title=f"Triage of node {params.node}: {state.status}",
            tone=Tone.OK if state.ready and not state.pressures else Tone.ERROR if not state.ready else Tone.WARN,
            summary=f"kubelet {state.kubelet_version or '?'} (API server {apiserver or '?'}) · {len(pods)} pods · "
            f"roles {','.join(state.roles) or 'none'} · age {ago(state.created, now) if state.created else '?'}",
        )
        runbooks = {i.name for i in ctx.catalog.runbook_infos()}
        index = 0
        for finding in findings(node, pods, ctx.cluster, apiserver, now):
            section = report.section(finding.title, tone=finding.tone)
            section.lines = finding.lines
            for run in finding.runs:
                if run.runbook in runbooks:
                    section.actions.append(Action(f"run_{index}", run.label, run.command, run.style))
                    index += 1
        report.section("Conditions").lines = condition_lines(node, now) or ["no conditions reported"]
        report.section("Taints").lines = taint_lines(node) or ["none"]
        report.section("Usage").lines = _usage(kube, node)
        report.table(
            ["When", "Type", "Reason", "Count", "Message"],
            _event_rows(events, now),
            title="Recent events",
            empty="no events for this node",
        )
        report.table(
            ["Pod", "Status", "Restarts"], _pod_rows(pods), title="Pods by restarts", empty="no pods on this node"
        )
        return report


def _apiserver_version(kube: Any) -> str | None:
    try:
        info = client.VersionApi(kube.api_client).get_code(_request_timeout=kube.timeout)
    except ApiException:
        return None
    return str(info.git_version)


def _usage(kube: Any, node: Obj) -> list[str]:
    """From metrics.k8s.io when it is served (metrics-server or another adapter); why not otherwise."""
    groups = client.ApisApi(kube.api_client).get_api_versions(_request_timeout=kube.timeout).groups or []
    if not any(g.name == "metrics.k8s.io" for g in groups):
        return ["not shown: metrics.k8s.io is not served on this cluster (no metrics-server)"]
    try:
        metrics = client.CustomObjectsApi(kube.api_client).get_cluster_custom_object(
            "metrics.k8s.io", "v1beta1", "nodes", node["metadata"]["name"], _request_timeout=kube.timeout
        )
    except ApiException as exc:
        if exc.status == 403:
            return ["not shown: you may not get nodes.metrics.k8s.io"]
        return [f"not shown: metrics.k8s.io answered {exc.status} ({exc.reason})"]
    return usage_lines(metrics, node) or ["metrics.k8s.io returned no usage for this node"]


def _event_rows(events: list[Obj], now: datetime) -> list[list[str]]:
    def when(e: Obj) -> datetime:
        stamp = e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp")
        return parse_time(stamp) or now

    recent = sorted(events, key=when, reverse=True)[:EVENTS_SHOWN]
    return [
        [
            ago(when(e), now),
            str(e.get("type", "")),
            str(e.get("reason", "")),
            str(e.get("count") or 1),
            str(e.get("message", ""))[:200],
        ]
        for e in recent
    ]


def _pod_rows(pods: list[Obj]) -> list[list[str]]:
    ranked = sorted(pods, key=lambda p: (-pod_restarts(p), p["metadata"]["namespace"], p["metadata"]["name"]))[
        :PODS_SHOWN
    ]
    return [
        [f"{p['metadata']['namespace']}/{p['metadata']['name']}", pod_status(p), str(pod_restarts(p))] for p in ranked
    ]
