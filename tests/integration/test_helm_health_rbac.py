"""The chart grants the health checks what they read, and leader election one named Lease — nothing more."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.harness.binaries import ensure_binaries
from tests.harness.control_plane import CONTEXT, ControlPlane

pytestmark = pytest.mark.integration
CHART = Path(__file__).resolve().parents[2] / "helm" / "k8s-runbook-bot"


def test_service_account_may_sweep_and_hold_only_its_lease(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    bins = ensure_binaries()
    rendered = subprocess.run(
        [
            str(bins / "helm"),
            "template",
            "hb",
            str(CHART),
            "--namespace",
            namespace,
            "--set",
            "config.identity.users.U0ALICE.user=alice",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    (role,) = [d for d in docs if d["kind"] == "Role"]
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in role["rules"])
    manifest = tmp_path / "chart.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    applied = subprocess.run(
        [
            str(bins / "kubectl"),
            "--kubeconfig",
            str(control_plane.admin_kubeconfig),
            "--context",
            CONTEXT,
            "apply",
            "-n",
            namespace,
            "-f",
            str(manifest),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    authz = client.AuthorizationV1Api(kube_api_client)

    def may(verb: str, resource: str, group: str = "", ns: str | None = None, name: str | None = None) -> bool:
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=f"system:serviceaccount:{namespace}:hb",
                groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource=resource, group=group, namespace=ns, name=name
                ),
            )
        )
        return bool(authz.create_subject_access_review(review).status.allowed)

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
    assert not may("get", "pods", ns="default", name="x") and not may("watch", "pods")
    assert not may("delete", "jobs", "batch", ns="default")
    lease = "coordination.k8s.io"
    assert may("create", "leases", lease, ns=namespace)
    assert may("update", "leases", lease, ns=namespace, name="k8s-runbook-bot")
    assert may("get", "leases", lease, ns=namespace, name="k8s-runbook-bot")
    assert not may("update", "leases", lease, ns=namespace, name="kube-scheduler")
    assert not may("update", "leases", lease, ns="kube-system", name="k8s-runbook-bot")
