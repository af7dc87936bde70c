"""Workloads for drain tests: deployments pinned by label, DaemonSets, StatefulSets, bare pods, PDBs."""

from __future__ import annotations

from typing import Any

from kubernetes import client

IMAGE = "registry.local/app:1"


def pod_spec(
    node_selector: dict[str, str] | None = None, node_name: str | None = None, emptydir: bool = False
) -> dict[str, Any]:
    """A pod spec kwok can run: tolerates everything, short grace period."""
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": IMAGE}], "terminationGracePeriodSeconds": 1}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if node_name:
        spec["nodeName"] = node_name
    if emptydir:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
        spec["containers"][0]["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    return spec


def deployment(
    api: client.ApiClient, ns: str, name: str, replicas: int, selector: dict[str, str], *, emptydir: bool = False
) -> None:
    """A Deployment whose pods land on nodes labelled ``selector``."""
    labels = {"app": name}
    client.AppsV1Api(api).create_namespaced_deployment(
        ns,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec(selector, emptydir=emptydir)},
            },
        },
    )


def statefulset(api: client.ApiClient, ns: str, name: str, replicas: int, selector: dict[str, str]) -> None:
    """A StatefulSet (pods keep their names when recreated)."""
    labels = {"app": name}
    client.AppsV1Api(api).create_namespaced_stateful_set(
        ns,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "serviceName": name,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec(selector)},
            },
        },
    )


def daemonset(api: client.ApiClient, ns: str, name: str, selector: dict[str, str]) -> None:
    """A DaemonSet on the labelled nodes."""
    labels = {"app": name}
    client.AppsV1Api(api).create_namespaced_daemon_set(
        ns,
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec(selector)},
            },
        },
    )


def bare_pod(
    api: client.ApiClient,
    ns: str,
    name: str,
    node: str,
    *,
    annotations: dict[str, str] | None = None,
    owner: dict[str, Any] | None = None,
) -> None:
    """A pod bound to ``node`` directly (no scheduler), optionally with a fake owner reference."""
    meta: dict[str, Any] = {"name": name, "labels": {"app": name}, "annotations": annotations or {}}
    if owner:
        meta["ownerReferences"] = [owner]
    client.CoreV1Api(api).create_namespaced_pod(
        ns, {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec(node_name=node)}
    )


def pdb(
    api: client.ApiClient,
    ns: str,
    name: str,
    app: str,
    *,
    min_available: int | None = None,
    max_unavailable: int | None = None,
) -> None:
    """A PodDisruptionBudget over pods labelled app=<app>."""
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": app}}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(
        ns, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name}, "spec": spec}
    )


def scale(api: client.ApiClient, ns: str, name: str, replicas: int) -> None:
    """Scale a Deployment."""
    client.AppsV1Api(api).patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": replicas}})
