"""Workloads for the scale/restart/rollback/restart-failed/logs/triage tests, on a labelled kwok node.

Pods select the pool's node (kwok runs them); ``fail`` annotates a pod template so kwok's
``pod-fail`` stage (tests/harness/kwok_stages.yaml) makes its pods crash-loop, error or fail to
pull. ``serve_logs`` writes a CRI-format log file and a kwok ``Logs`` object, so the API server's
``pods/log`` (proxied to kwok's kubelet endpoint) returns those lines.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.harness.kwok_nodes import create_node, unique_name, wait_for, wait_node_ready
from tests.harness.rbac import bind_cluster_role, ensure_cluster_role

FAIL = "test.runbook-bot.io/fail"
IMAGE_V1 = "registry.local/web:1"
IMAGE_V2 = "registry.local/web:2"
WORKLOAD_OPERATOR = [
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "statefulsets", "daemonsets"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {"apiGroups": ["apps"], "resources": ["deployments/scale", "statefulsets/scale"], "verbs": ["get", "patch"]},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["get", "list", "patch"]},
]


def grant_workloads(api: client.ApiClient) -> None:
    """sre may operate workloads (scale, restart, roll back, delete pods, read logs)."""
    ensure_cluster_role(api, "workload-operator", WORKLOAD_OPERATOR)
    bind_cluster_role(api, "workload-operator", group="sre")


def pool_node(api: client.ApiClient) -> dict[str, str]:
    """A fresh Ready kwok node with a unique label; returns the label to select it."""
    core = client.CoreV1Api(api)
    label = {"workload-pool": unique_name("wp")}
    name = unique_name("wnode")
    create_node(core, name, labels=label)
    wait_node_ready(core, name)
    return label


def template(
    pool: dict[str, str], labels: dict[str, str], image: str = IMAGE_V1, fail: str | None = None
) -> dict[str, Any]:
    """A pod template kwok runs on the pool's node (or fails as ``fail`` says)."""
    meta: dict[str, Any] = {"labels": labels}
    if fail:
        meta["annotations"] = {FAIL: fail}
    return {
        "metadata": meta,
        "spec": {
            "containers": [{"name": "app", "image": image}],
            "nodeSelector": pool,
            "tolerations": [{"operator": "Exists"}],
            "terminationGracePeriodSeconds": 1,
        },
    }


def deployment(
    api: client.ApiClient,
    ns: str,
    name: str,
    replicas: int,
    pool: dict[str, str],
    *,
    image: str = IMAGE_V1,
    fail: str | None = None,
) -> None:
    """A Deployment of ``replicas`` pods on the pool."""
    labels = {"app": name}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": template(pool, labels, image, fail),
        },
    }
    client.AppsV1Api(api).create_namespaced_deployment(ns, body)


def statefulset(api: client.ApiClient, ns: str, name: str, replicas: int, pool: dict[str, str]) -> None:
    """A StatefulSet on the pool."""
    labels = {"app": name}
    body = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": labels},
            "template": template(pool, labels),
        },
    }
    client.AppsV1Api(api).create_namespaced_stateful_set(ns, body)


def bare_pod(api: client.ApiClient, ns: str, name: str, pool: dict[str, str], fail: str | None = None) -> None:
    """A pod without a controller."""
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **template(pool, {"app": name}, fail=fail)["metadata"]},
    }
    body["spec"] = template(pool, {"app": name})["spec"]
    client.CoreV1Api(api).create_namespaced_pod(ns, body)


def hpa(api: client.ApiClient, ns: str, target: str, low: int, high: int) -> None:
    """An autoscaling/v2 HPA on deployment ``target``."""
    body = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                }
            ],
        },
    }
    client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(ns, body)


def rolled_out(api: client.ApiClient, ns: str, name: str, timeout: float = 90) -> client.V1Deployment:
    """Wait until the Deployment's rollout is complete (observed, all updated and available, no old pods)."""

    def probe() -> client.V1Deployment | None:
        d = client.AppsV1Api(api).read_namespaced_deployment(name, ns)
        s, want = d.status, d.spec.replicas
        done = (
            (s.observed_generation or 0) >= d.metadata.generation
            and (s.updated_replicas or 0) == want
            and (s.available_replicas or 0) == want
            and (s.replicas or 0) == want
        )
        return d if done else None

    return wait_for(f"deployment {ns}/{name} rolled out", probe, timeout)


def pods(api: client.ApiClient, ns: str, app: str) -> list[client.V1Pod]:
    """Live (not terminating) pods labelled app=<app>."""
    items = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector=f"app={app}").items
    return [p for p in items if p.metadata.deletion_timestamp is None]


def failing(api: client.ApiClient, ns: str, app: str, count: int, reason: str) -> list[client.V1Pod]:
    """Wait until ``count`` pods of ``app`` report ``reason`` (kwok's pod-fail stage)."""

    def probe() -> list[client.V1Pod] | None:
        found = [
            p
            for p in pods(api, ns, app)
            if any(
                (
                    (cs.state.waiting and cs.state.waiting.reason == reason)
                    or (cs.state.terminated and cs.state.terminated.reason == reason)
                )
                for cs in (p.status.container_statuses or [])
            )
        ]
        return found if len(found) >= count else None

    return wait_for(f"{count} {reason} pods of {app}", probe, 60)


def serve_logs(
    api: client.ApiClient, ns: str, pod: str, lines: list[str], folder: Path, container: str = "app"
) -> Path:
    """Make ``pods/log`` of ``pod`` return ``lines``: a CRI-format file and a kwok ``Logs`` object naming it."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path = folder / f"{ns}-{pod}-{container}.log"
    path.write_text("".join(f"{stamp} stdout F {line}\n" for line in lines))
    body = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Logs",
        "metadata": {"name": pod, "namespace": ns},
        "spec": {"logs": [{"containers": [container], "logsFile": str(path)}]},
    }
    client.CustomObjectsApi(api).create_namespaced_custom_object("kwok.x-k8s.io", "v1alpha1", ns, "logs", body)
    return path


def wait_logs(api: client.ApiClient, ns: str, pod: str, expect: str, timeout: float = 30) -> str:
    """Wait until kwok serves the pod's log (its informer saw the Logs object); return the text."""

    def probe() -> str | None:
        try:
            text = client.CoreV1Api(api).read_namespaced_pod_log(pod, ns, container="app", tail_lines=5)
        except client.ApiException:
            return None
        return text if expect in text else None

    return wait_for(f"kwok serving logs of {ns}/{pod}", probe, timeout)
