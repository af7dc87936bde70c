"""Drains that block: kwok nodes whose pods a PodDisruptionBudget holds, and the evictions the API
server saw (its audit log).

``held`` pins a Deployment's pods to one node (they tolerate the cordon, so a replacement would
land there again) under a PDB that allows no disruption until ``relax``; ``loose`` pins pods to a
node without a PDB (evicted at once; their replacements stay Pending on the cordoned node).
``DrainNodes`` creates kwok nodes and a namespace, and on ``close`` deletes the namespace and
then the nodes and waits until both are gone — the shared control plane is left as it was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.harness.control_plane import ControlPlane
from tests.harness.kwok_nodes import create_namespace, create_node, unique_name, wait_for, wait_node_ready
from tests.harness.workloads import IMAGE, pdb

UNSCHEDULABLE = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}


def _pinned(api: client.ApiClient, ns: str, name: str, node: str, replicas: int, *, tolerate_cordon: bool) -> None:
    labels = {"app": name}
    spec: dict[str, Any] = {
        "containers": [{"name": "app", "image": IMAGE}],
        "terminationGracePeriodSeconds": 1,
        "nodeSelector": {"kubernetes.io/hostname": node},
    }
    if tolerate_cordon:
        spec["tolerations"] = [UNSCHEDULABLE]
    client.AppsV1Api(api).create_namespaced_deployment(
        ns,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec},
            },
        },
    )


def held(api: client.ApiClient, ns: str, name: str, node: str, replicas: int = 2) -> str:
    """``replicas`` pods of Deployment ``name`` on ``node`` under PDB ``<name>-pdb`` (minAvailable all); its name."""
    _pinned(api, ns, name, node, replicas, tolerate_cordon=True)
    pdb(api, ns, f"{name}-pdb", name, min_available=replicas)
    return f"{name}-pdb"


def loose(api: client.ApiClient, ns: str, name: str, node: str, replicas: int = 1) -> None:
    """``replicas`` pods of Deployment ``name`` on ``node``, under no PDB (a drain evicts them at once)."""
    _pinned(api, ns, name, node, replicas, tolerate_cordon=False)


def relax(api: client.ApiClient, ns: str, pdb_name: str) -> None:
    """Let PDB ``pdb_name`` allow every disruption (minAvailable 0)."""
    client.PolicyV1Api(api).patch_namespaced_pod_disruption_budget(pdb_name, ns, {"spec": {"minAvailable": 0}})


def live_pods(core: client.CoreV1Api, ns: str, app: str) -> list[client.V1Pod]:
    """Pods of ``app`` that are not being deleted."""
    pods = core.list_namespaced_pod(ns, label_selector=f"app={app}").items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def wait_running(core: client.CoreV1Api, ns: str, app: str, count: int, node: str) -> list[str]:
    """Wait until ``count`` pods of ``app`` run on ``node``; their ``namespace/name`` keys."""

    def probe() -> list[str] | None:
        pods = [p for p in live_pods(core, ns, app) if p.status.phase == "Running" and p.spec.node_name == node]
        return sorted(f"{ns}/{p.metadata.name}" for p in pods) if len(pods) == count else None

    return wait_for(f"{count} running pods of {app} on {node}", probe, 90)


def wait_pdb_blocks(api: client.ApiClient, ns: str, pdb_name: str, expected: int) -> None:
    """Wait until the disruption controller has computed the PDB (``expectedPods`` seen, 0 allowed)."""
    policy = client.PolicyV1Api(api)

    def probe() -> bool | None:
        status = policy.read_namespaced_pod_disruption_budget(pdb_name, ns).status
        if status is None or status.expected_pods != expected:
            return None
        return True if (status.disruptions_allowed or 0) == 0 else None

    wait_for(f"PDB {ns}/{pdb_name} to block", probe, 60)


def wait_pdb_allows(api: client.ApiClient, ns: str, pdb_name: str, count: int) -> None:
    """Wait until the PDB reports ``count`` disruptions allowed (after ``relax``: nothing holds the pods now)."""
    policy = client.PolicyV1Api(api)

    def probe() -> bool | None:
        status = policy.read_namespaced_pod_disruption_budget(pdb_name, ns).status
        return True if status is not None and (status.disruptions_allowed or 0) >= count else None

    wait_for(f"PDB {ns}/{pdb_name} to allow {count} disruptions", probe, 60)


@dataclass(frozen=True)
class Eviction:
    """One eviction request the API server answered: which pod, its answer, when it was received."""

    pod: str  # namespace/name
    code: int
    at: float  # epoch seconds
    user: str  # the impersonated user (the requester), or the authenticated one


def evictions(cp: ControlPlane, ns: str) -> list[Eviction]:
    """Every eviction request for a pod of ``ns`` in the API server's audit log, oldest first."""
    found = []
    for event in cp.read_audit_events():
        ref = event.get("objectRef") or {}
        if event.get("verb") != "create" or ref.get("subresource") != "eviction" or ref.get("namespace") != ns:
            continue
        when = datetime.fromisoformat(str(event["requestReceivedTimestamp"]).replace("Z", "+00:00")).timestamp()
        who = (event.get("impersonatedUser") or event.get("user") or {}).get("username", "")
        code = int((event.get("responseStatus") or {}).get("code", 0))
        found.append(Eviction(f"{ns}/{ref.get('name')}", code, when, who))
    return sorted(found, key=lambda e: e.at)


class DrainNodes:
    """kwok nodes and one namespace for a test; ``close`` removes both and waits until they are gone."""

    def __init__(self, api: client.ApiClient, prefix: str) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.namespace = unique_name(prefix)
        self.nodes: list[str] = []
        self.closed = False
        create_namespace(self.core, self.namespace)

    def node(self, labels: dict[str, str] | None = None) -> str:
        """A new Ready kwok node; its name."""
        name = unique_name("ha-node")
        create_node(self.core, name, labels=labels)
        self.nodes.append(name)
        wait_node_ready(self.core, name)
        return name

    def close(self) -> None:
        """Delete the namespace (its pods first), then the nodes; wait for both (once; later calls do nothing)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.core.delete_namespace(self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        wait_for(f"namespace {self.namespace} gone", lambda: None if self._exists_ns() else True, 120)
        for name in self.nodes:
            try:
                self.core.delete_node(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        left = set(self.nodes)
        wait_for(
            "test nodes gone",
            lambda: None if left & {n.metadata.name for n in self.core.list_node().items} else True,
            60,
        )

    def _exists_ns(self) -> bool:
        try:
            self.core.read_namespace(self.namespace)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
