"""Read-only executors: cluster status, node list, pods on a node."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.kube_facts import age, node_state, parse_time, pod_is_healthy, pod_restarts, pod_status, workload_shortfall
from bot.model import Permission
from bot.report import Report, Tone
from bot.steps.base import Step, StepContext, StepPlan

MAX_ROWS = 200


class NoParams(BaseModel):
    """A step without arguments."""

    model_config = ConfigDict(extra="forbid")


def _ns_perm(verb: str, resource: str, group: str, namespace: str | None) -> Permission:
    return Permission(verb=verb, resource=resource, group=group, namespace=namespace)


class ClusterStatus(Step[NoParams]):
    """Nodes Ready/NotReady/cordoned, pods not running by reason, workloads short of replicas."""

    name = "kubernetes.cluster_status"
    Params = NoParams
    summary = "cluster summary"
    permissions_note = "with -n NS, pods and workloads are listed in that namespace only"

    def _perms(self, ns: str | None) -> list[Permission]:
        return [
            Permission(verb="list", resource="nodes"),
            _ns_perm("list", "pods", "", ns),
            _ns_perm("list", "deployments", "apps", ns),
            _ns_perm("list", "statefulsets", "apps", ns),
            _ns_perm("list", "daemonsets", "apps", ns),
        ]

    def static_permissions(self, params: NoParams | None) -> list[Permission]:
        return self._perms(None)

    def plan(self, ctx: StepContext, params: NoParams) -> StepPlan:
        ns = ctx.namespace if ctx.namespace_explicit else None
        return StepPlan(description="read nodes, pods and workloads", permissions=self._perms(ns))

    def run(self, ctx: StepContext, params: NoParams) -> Report:
        kube = ctx.kube
        ns = ctx.namespace if ctx.namespace_explicit else None
        nodes = [node_state(n) for n in kube.list_raw(kube.core.list_node)]
        ready = sum(1 for n in nodes if n.ready)
        cordoned = [n.name for n in nodes if n.cordoned]
        not_ready = [n for n in nodes if not n.ready]

        def listing(all_call: Any, ns_call: Any) -> Any:
            return kube.list_raw(all_call) if ns is None else kube.list_raw(ns_call, namespace=ns)

        trouble: Counter[str] = Counter()
        total_pods = 0
        examples: dict[str, list[str]] = {}
        for pod in listing(kube.core.list_pod_for_all_namespaces, kube.core.list_namespaced_pod):
            total_pods += 1
            if not pod_is_healthy(pod):
                reason = pod_status(pod)
                trouble[reason] += 1
                meta = pod["metadata"]
                examples.setdefault(reason, []).append(f"{meta['namespace']}/{meta['name']}")

        short: list[list[str]] = []
        apps = kube.apps
        for kind, all_call, ns_call in (
            ("Deployment", apps.list_deployment_for_all_namespaces, apps.list_namespaced_deployment),
            ("StatefulSet", apps.list_stateful_set_for_all_namespaces, apps.list_namespaced_stateful_set),
            ("DaemonSet", apps.list_daemon_set_for_all_namespaces, apps.list_namespaced_daemon_set),
        ):
            for obj in listing(all_call, ns_call):
                gap = workload_shortfall(kind, obj)
                if gap:
                    meta = obj["metadata"]
                    short.append([f"{kind.lower()}/{meta['name']}", meta["namespace"], f"{gap[0]}/{gap[1]}"])

        problems = bool(not_ready or trouble or short)
        scope = "all namespaces" if ns is None else f"namespace {ns}"
        report = Report(
            title=f"Cluster {ctx.cluster}: " + ("needs attention" if problems else "healthy"),
            tone=Tone.WARN if problems else Tone.OK,
            summary=(
                f"{len(nodes)} nodes: {ready} Ready, {len(not_ready)} NotReady, {len(cordoned)} cordoned · "
                f"{total_pods} pods ({scope}), {sum(trouble.values())} not running · "
                f"{len(short)} workloads short of replicas"
            ),
        )
        nodes_section = report.section("Nodes", tone=Tone.WARN if not_ready else Tone.OK)
        nodes_section.fields = [
            ("Ready", str(ready)),
            ("NotReady", str(len(not_ready))),
            ("Cordoned", str(len(cordoned))),
            ("Total", str(len(nodes))),
        ]
        nodes_section.lines = [f"{n.name}: {n.status}" for n in not_ready]
        nodes_section.lines += [f"{name}: cordoned" for name in cordoned if name not in {n.name for n in not_ready}]
        report.table(
            ["Reason", "Pods", "Examples"],
            [[r, str(c), ", ".join(examples[r][:3])] for r, c in trouble.most_common()],
            title="Pods not running",
            empty="every pod is running",
        )
        report.table(
            ["Workload", "Namespace", "Ready"],
            short,
            title="Workloads short of replicas",
            empty="every workload has its replicas",
        )
        return report


class ListNodes(Step[NoParams]):
    """Every node with status, roles, age, version and pod count."""

    name = "kubernetes.list_nodes"
    Params = NoParams
    summary = "list nodes"

    def static_permissions(self, params: NoParams | None) -> list[Permission]:
        return [Permission(verb="list", resource="nodes"), Permission(verb="list", resource="pods")]

    def plan(self, ctx: StepContext, params: NoParams) -> StepPlan:
        return StepPlan(description="read nodes", permissions=self.static_permissions(params))

    def run(self, ctx: StepContext, params: NoParams) -> Report:
        kube = ctx.kube
        per_node: Counter[str] = Counter(
            p["spec"].get("nodeName")
            for p in kube.list_raw(
                kube.core.list_pod_for_all_namespaces, field_selector="status.phase!=Succeeded,status.phase!=Failed"
            )
        )
        states = sorted((node_state(n) for n in kube.list_raw(kube.core.list_node)), key=lambda s: s.name)
        rows = [
            [
                s.name,
                s.status,
                ",".join(s.roles) or "<none>",
                age(s.created),
                s.kubelet_version,
                str(per_node.get(s.name, 0)),
            ]
            for s in states
        ]
        bad = sum(1 for s in states if not s.ready)
        report = Report(
            title=f"Nodes on {ctx.cluster}",
            tone=Tone.WARN if bad else Tone.OK,
            summary=f"{len(states)} nodes, {bad} not Ready",
        )
        report.table(["Node", "Status", "Roles", "Age", "Version", "Pods"], rows, empty="no nodes")
        return report


class PodsOnNodeParams(BaseModel):
    """The node whose pods to list."""

    model_config = ConfigDict(extra="forbid")
    node: str = Field(description="the node whose pods to list")


class PodsOnNode(Step[PodsOnNodeParams]):
    """Exactly the pods bound to one node (field selector spec.nodeName), all namespaces."""

    name = "kubernetes.pods_on_node"
    Params = PodsOnNodeParams
    summary = "list the pods bound to a node"

    def static_permissions(self, params: PodsOnNodeParams | None) -> list[Permission]:
        return [Permission(verb="list", resource="pods")]

    def plan(self, ctx: StepContext, params: PodsOnNodeParams) -> StepPlan:
        return StepPlan(description=f"read pods on node {params.node}", permissions=self.static_permissions(params))

    def run(self, ctx: StepContext, params: PodsOnNodeParams) -> Report:
        kube = ctx.kube
        pods = list(kube.list_raw(kube.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={params.node}"))
        pods.sort(key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
        rows = [
            [
                f"{p['metadata']['namespace']}/{p['metadata']['name']}",
                pod_status(p),
                str(pod_restarts(p)),
                age(parse_time(p["metadata"].get("creationTimestamp"))),
            ]
            for p in pods
        ]
        unhealthy = sum(1 for p in pods if not pod_is_healthy(p))
        report = Report(
            title=f"Pods on node {params.node}",
            tone=Tone.WARN if unhealthy else Tone.INFO,
            summary=f"{len(pods)} pods, {unhealthy} not running",
        )
        report.table(["Pod", "Status", "Restarts", "Age"], rows[:MAX_ROWS], empty="no pods on this node")
        if len(rows) > MAX_ROWS:
            report.context.append(f"showing {MAX_ROWS} of {len(rows)} pods")
        return report
