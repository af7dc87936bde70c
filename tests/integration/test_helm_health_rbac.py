"""The chart grants the health checks what they read, and leader election one named Lease — nothing more."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.harness.control_plane import ControlPlane
from tests.harness.helm_chart import apply, render, service_account_may

pytestmark = pytest.mark.integration


def test_service_account_may_sweep_and_hold_only_its_lease(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    docs = render("hb", namespace, "--set", "config.identity.users.U0ALICE.user=alice")
    (role,) = [d for d in docs if d["kind"] == "Role"]
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in role["rules"])
    apply(control_plane, namespace, docs, tmp_path)
    may = service_account_may(kube_api_client, namespace, "hb")

    for resource, group in [
        ("nodes", ""),
        ("pods", ""),
        ("deployments", "apps"),
        ("statefulsets", "apps"),
        ("daemonsets", "apps"),
        ("horizontalpodautoscalers", "autoscaling"),
        ("poddisruptionbudgets", "policy"),
        ("jobs", "batch"),
    ]:
        assert may("list", resource, group), f"the sweep lists {resource}"
    assert not may("get", "pods", ns="default", name="x")
    assert not may("watch", "pods")
    assert not may("delete", "jobs", "batch", ns="default")
    lease = "coordination.k8s.io"
    assert may("create", "leases", lease, ns=namespace)
    assert may("update", "leases", lease, ns=namespace, name="k8s-runbook-bot")
    assert may("get", "leases", lease, ns=namespace, name="k8s-runbook-bot")
    assert not may("update", "leases", lease, ns=namespace, name="kube-scheduler")
    assert not may("update", "leases", lease, ns="kube-system", name="k8s-runbook-bot")
