"""The test control plane itself: real apiserver, RBAC, audit log, kwok nodes and pods."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client, config

from tests.harness.binaries import KUBERNETES_VERSION
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.kwok_nodes import (
    create_deployment,
    create_node,
    node_is_ready,
    unique_name,
    wait_for,
    wait_node_ready,
    wait_pods_running,
)

pytestmark = pytest.mark.integration


def test_apiserver_version(control_plane: ControlPlane, kube_api_client: client.ApiClient) -> None:
    """The apiserver is the pinned release, reached over loopback."""
    assert control_plane.version == KUBERNETES_VERSION == "v1.36.3"
    assert control_plane.server.startswith("https://127.0.0.1:")
    info = client.VersionApi(kube_api_client).get_code()
    assert info.git_version == "v1.36.3"


def test_kwok_node_becomes_ready(kube_api_client: client.ApiClient) -> None:
    """kwok picks up an annotated node and marks it Ready."""
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("kwok-node")
    create_node(core, name)
    try:
        node = wait_node_ready(core, name)
        assert node.metadata.annotations["kwok.x-k8s.io/node"] == "fake"
        assert node.status.allocatable["cpu"] == "32"
    finally:
        core.delete_node(name)


@pytest.mark.parametrize("pin", ["node_selector", "node_name"])
def test_deployment_pods_run_on_kwok_node(kube_api_client: client.ApiClient, namespace: str, pin: str) -> None:
    """3 replicas pinned to a kwok node (via the scheduler, or nodeName) run there; deletions complete."""
    core = client.CoreV1Api(kube_api_client)
    apps = client.AppsV1Api(kube_api_client)
    node = unique_name("kwok-node")
    create_node(core, node)
    try:
        wait_node_ready(core, node)
        if pin == "node_name":
            create_deployment(apps, namespace, "web", 3, node_name=node)
        else:
            create_deployment(apps, namespace, "web", 3, node_selector={"kubernetes.io/hostname": node})
        pods = wait_pods_running(core, namespace, "app=web", 3)
        assert len(pods) == 3
        assert {p.spec.node_name for p in pods} == {node}
        assert all(p.status.pod_ip for p in pods)

        # A graceful deletion completes (kwok plays the kubelet) and the ReplicaSet replaces the pod.
        victim = pods[0].metadata.name
        core.delete_namespaced_pod(victim, namespace)
        wait_for(
            f"pod {victim} to be gone",
            lambda: (
                True if victim not in {p.metadata.name for p in core.list_namespaced_pod(namespace).items} else None
            ),
            30,
        )
        replaced = wait_pods_running(core, namespace, "app=web", 3)
        assert victim not in {p.metadata.name for p in replaced}
    finally:
        core.delete_node(node)


def test_not_ready_node_stays_not_ready(kube_api_client: client.ApiClient) -> None:
    """A node without kwok's annotation reads NotReady and kwok leaves it alone."""
    core = client.CoreV1Api(kube_api_client)
    name, alive = unique_name("dead-node"), unique_name("live-node")
    create_node(core, name, ready=False, cordoned=True)
    create_node(core, alive)  # created after it: once kwok made this one Ready, it has seen both
    try:
        wait_node_ready(core, alive)
        node = core.read_node(name)
        assert not node_is_ready(node)
        assert node.spec.unschedulable is True
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.status in ("False", "Unknown")
    finally:
        core.delete_node(name)
        core.delete_node(alive)


def test_rbac_denies_unbound_user(control_plane: ControlPlane) -> None:
    """RBAC is on: an authenticated user with no bindings is forbidden to list nodes."""
    path = control_plane.user_kubeconfig("nobody", [])
    api = config.new_client_from_config(config_file=str(path), context=CONTEXT)
    try:
        with pytest.raises(client.ApiException) as err:
            client.CoreV1Api(api).list_node()
        assert err.value.status == 403
        assert 'User "nobody" cannot list resource "nodes"' in json.loads(err.value.body)["message"]
    finally:
        api.close()


def test_impersonated_request_is_audited(control_plane: ControlPlane, kube_api_client: client.ApiClient) -> None:
    """Admin impersonating alice shows up in the audit log as alice (and admin as the real user)."""
    core = client.CoreV1Api(kube_api_client)
    marker = unique_name("audit-probe")
    with pytest.raises(client.ApiException) as err:
        core.read_namespace(marker, _headers={"Impersonate-User": "alice"})
    assert err.value.status == 403  # alice has no rights; the request still reached the apiserver

    def find() -> dict[str, Any] | None:
        for event in control_plane.read_audit_events():
            if event.get("objectRef", {}).get("name") == marker:
                return event
        return None

    event = wait_for("the impersonated request in the audit log", find, 10)
    assert event["level"] == "Metadata"
    assert event["impersonatedUser"]["username"] == "alice"
    assert event["user"]["username"] == "admin"
    assert event["verb"] == "get"
    assert event["responseStatus"]["code"] == 403
