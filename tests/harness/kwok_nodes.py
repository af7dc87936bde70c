"""Helpers that build cluster fixtures (namespaces, kwok nodes, deployments) with the official client.

Nodes annotated ``kwok.x-k8s.io/node: fake`` are managed by the kwok process the control plane
runs: kwok marks them Ready, keeps their heart-beat, runs their pods and completes graceful
deletions. Other nodes have no kubelet at all, which is how a NotReady node is simulated.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
IMAGE = "registry.local/app:1"
ALLOCATABLE = {"cpu": "32", "memory": "256Gi", "pods": "110"}
STRATEGIC_MERGE = "application/strategic-merge-patch+json"

T = TypeVar("T")


def unique_name(prefix: str) -> str:
    """A DNS-1123 name ``<prefix>-<8 hex chars>`` unique to this run."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.2) -> T:
    """Call ``probe`` until it returns something other than ``None``; raise ``TimeoutError`` with ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def create_namespace(core: client.CoreV1Api, name: str, *, wait_default_sa: bool = True) -> client.V1Namespace:
    """Create a namespace; by default wait for its ``default`` service account (pods need it)."""
    ns = core.create_namespace({"metadata": {"name": name}})

    def has_sa() -> bool | None:
        try:
            core.read_namespaced_service_account("default", name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return True

    if wait_default_sa:
        wait_for(f"service account default in namespace {name}", has_sa, 30)
    return ns


def create_node(
    core: client.CoreV1Api,
    name: str,
    *,
    ready: bool = True,
    cordoned: bool = False,
    labels: dict[str, str] | None = None,
    provider_id: str | None = None,
) -> client.V1Node:
    """Create a Node: kwok-managed (becomes Ready) when ``ready``, else one that reads NotReady.

    A NotReady node carries no kwok annotation (nothing heart-beats for it) and gets a
    ``Ready=False`` (reason ``KubeletNotReady``) condition through the status subresource.
    """
    node_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        **(labels or {}),
    }
    metadata: dict[str, Any] = {"name": name, "labels": node_labels, "annotations": {}}
    if ready:
        metadata["annotations"][KWOK_ANNOTATION] = "fake"
    spec: dict[str, Any] = {"unschedulable": cordoned}
    if provider_id is not None:
        spec["providerID"] = provider_id
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": metadata,
        "spec": spec,
        "status": {
            "allocatable": dict(ALLOCATABLE),
            "capacity": dict(ALLOCATABLE),
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "containerRuntimeVersion": "",
                "kernelVersion": "",
                "osImage": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    }
    node = core.create_node(body)
    if not ready:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        condition = {
            "type": "Ready",
            "status": "False",
            "reason": "KubeletNotReady",
            "message": "simulated: kubelet stopped posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        node = core.patch_node_status(
            name,
            {"status": {"conditions": [condition], "allocatable": dict(ALLOCATABLE), "capacity": dict(ALLOCATABLE)}},
            _content_type=STRATEGIC_MERGE,
        )
    return node


def node_is_ready(node: client.V1Node) -> bool:
    """Whether the node's Ready condition is True."""
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def wait_node_ready(core: client.CoreV1Api, name: str, timeout: float = 30) -> client.V1Node:
    """Wait until node ``name`` reports Ready=True and return it."""

    def probe() -> client.V1Node | None:
        node = core.read_node(name)
        return node if node_is_ready(node) else None

    return wait_for(f"node {name} to become Ready", probe, timeout)


def create_deployment(
    apps: client.AppsV1Api,
    namespace: str,
    name: str,
    replicas: int,
    *,
    node_name: str | None = None,
    node_selector: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> client.V1Deployment:
    """Create a Deployment of ``registry.local/app:1`` (never pulled: kwok fakes the kubelet).

    Pods tolerate every taint. ``node_name`` pins them to one node (bypassing the scheduler);
    ``node_selector`` constrains the scheduler. ``labels`` default to ``{"app": name}``.
    """
    pod_labels = labels or {"app": name}
    pod_spec: dict[str, Any] = {
        "containers": [{"name": "app", "image": IMAGE}],
        "tolerations": [{"operator": "Exists"}],
        "terminationGracePeriodSeconds": 30,
    }
    if node_name is not None:
        pod_spec["nodeName"] = node_name
    if node_selector is not None:
        pod_spec["nodeSelector"] = node_selector
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(pod_labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(pod_labels)},
            "template": {"metadata": {"labels": dict(pod_labels)}, "spec": pod_spec},
        },
    }
    return apps.create_namespaced_deployment(namespace, body)


def wait_pods_running(
    core: client.CoreV1Api, namespace: str, label_selector: str, count: int, timeout: float = 60
) -> list[client.V1Pod]:
    """Wait until at least ``count`` pods matching the selector are Running and not terminating."""

    def probe() -> list[client.V1Pod] | None:
        pods = core.list_namespaced_pod(namespace, label_selector=label_selector).items
        running = [
            p
            for p in pods
            if p.status is not None and p.status.phase == "Running" and p.metadata.deletion_timestamp is None
        ]
        return running if len(running) >= count else None

    return wait_for(f"{count} running pods matching {label_selector!r} in {namespace}", probe, timeout)
