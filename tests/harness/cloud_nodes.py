"""Cloud-backed kwok nodes for replace-node tests: moto Auto Scaling groups, a kubelet joiner, Karpenter.

``KubeletJoiner`` plays the part of the kubelets of a node group: a thread that, for every running
instance of the group it has not seen yet, registers a kwok Node with that instance's providerID
(kwok then makes it Ready), as a real kubelet joins when its instance boots. It can be paused to
hold a replacement back. ``FakeKarpenter`` plays Karpenter for a NodePool: when a NodeClaim is
deleted it removes that claim's Node and provisions a new NodeClaim + Node.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.harness.kwok_nodes import create_node, unique_name

NODECLAIM_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "nodeclaims.karpenter.sh"},
    "spec": {
        "group": "karpenter.sh",
        "scope": "Cluster",
        "names": {"plural": "nodeclaims", "singular": "nodeclaim", "kind": "NodeClaim", "listKind": "NodeClaimList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def delete_nodes(core: client.CoreV1Api, names: list[str]) -> None:
    """Delete test nodes, ignoring the ones already gone."""
    for name in names:
        try:
            core.delete_node(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


class KubeletJoiner:
    """Registers a kwok Node for each new running instance that ``instances()`` reports."""

    def __init__(
        self,
        core: client.CoreV1Api,
        instances: Callable[[], list[tuple[str, str]]],  # (instance id, providerID)
        labels: dict[str, str],
        prefix: str,
    ) -> None:
        self.core = core
        self.instances = instances
        self.labels = labels
        self.prefix = prefix
        self.nodes: dict[str, str] = {}  # instance id → node name
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"joiner-{prefix}", daemon=True)
        self.errors: list[str] = []

    def start(self) -> KubeletJoiner:
        """Join the instances running now (synchronously), then keep joining new ones."""
        self.join_new()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and delete every node it registered."""
        self._stop.set()
        self._thread.join(10)
        delete_nodes(self.core, list(self.nodes.values()))

    def join_new(self) -> None:
        """Register a node for each instance not seen yet."""
        for instance_id, provider_id in self.instances():
            if instance_id in self.nodes:
                continue
            name = unique_name(self.prefix)
            create_node(self.core, name, labels=self.labels, provider_id=provider_id)
            self.nodes[instance_id] = name

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            if self.paused.is_set():
                continue
            try:
                self.join_new()
            except Exception as exc:  # noqa: BLE001 - reported in the test; the joiner keeps joining
                self.errors.append(f"{type(exc).__name__}: {exc}")


def install_nodeclaim_crd(api: client.ApiClient) -> None:
    """Install a minimal karpenter.sh/v1 NodeClaim CRD and wait until it is served."""
    ext = client.ApiextensionsV1Api(api)
    try:
        ext.create_custom_resource_definition(NODECLAIM_CRD)
    except ApiException as exc:
        if exc.status != 409:
            raise
    custom = client.CustomObjectsApi(api)
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            custom.list_cluster_custom_object("karpenter.sh", "v1", "nodeclaims")
            return
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class FakeKarpenter:
    """Plays Karpenter for one NodePool: claims back nodes, and a deleted claim is replaced."""

    def __init__(self, api: client.ApiClient, nodepool: str, labels: dict[str, str]) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.nodepool = nodepool
        self.labels = {**labels, "karpenter.sh/nodepool": nodepool}
        self.claims: dict[str, str] = {}  # claim name → node name
        self.replaced: list[tuple[str, str]] = []  # (old node, new node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"karpenter-{nodepool}", daemon=True)

    def provision(self) -> str:
        """Create a NodeClaim and its Node (owned by the claim); return the node name."""
        claim_name = f"{self.nodepool}-{unique_name('c').split('-')[1]}"
        node_name = unique_name("karp")
        provider_id = f"kwok://{node_name}"
        claim = self.custom.create_cluster_custom_object(
            "karpenter.sh",
            "v1",
            "nodeclaims",
            {
                "apiVersion": "karpenter.sh/v1",
                "kind": "NodeClaim",
                "metadata": {"name": claim_name, "labels": {"karpenter.sh/nodepool": self.nodepool}},
                "spec": {"nodeClassRef": {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"}},
            },
        )
        self.custom.patch_cluster_custom_object_status(
            "karpenter.sh",
            "v1",
            "nodeclaims",
            claim_name,
            {"status": {"nodeName": node_name, "providerID": provider_id}},
        )
        create_node(self.core, node_name, labels=self.labels, provider_id=provider_id)
        owner = {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodeClaim",
            "name": claim_name,
            "uid": claim["metadata"]["uid"],
            "blockOwnerDeletion": True,
        }
        self.core.patch_node(node_name, {"metadata": {"ownerReferences": [owner]}})
        self.claims[claim_name] = node_name
        return node_name

    def start(self) -> FakeKarpenter:
        """Start watching for deleted claims."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop; delete the claims and nodes it made."""
        self._stop.set()
        self._thread.join(10)
        for claim in list(self.claims):
            try:
                self.custom.delete_cluster_custom_object("karpenter.sh", "v1", "nodeclaims", claim)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        delete_nodes(self.core, list(self.claims.values()))

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            live = {
                c["metadata"]["name"]
                for c in self.custom.list_cluster_custom_object("karpenter.sh", "v1", "nodeclaims")["items"]
            }
            for claim, node in list(self.claims.items()):
                if claim not in live:  # deleted: Karpenter drains/removes its node and launches anew
                    del self.claims[claim]
                    delete_nodes(self.core, [node])
                    self.replaced.append((node, self.provision()))
