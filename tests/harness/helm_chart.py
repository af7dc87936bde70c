"""Render the Helm chart, apply it to the test API server, and ask what its ServiceAccount may do."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.harness.binaries import ensure_binaries
from tests.harness.control_plane import CONTEXT, ControlPlane

CHART = Path(__file__).resolve().parents[2] / "helm" / "k8s-runbook-bot"
May = Callable[..., bool]


def helm(*args: str) -> str:
    """Run helm; fail with its stderr."""
    result = subprocess.run([str(ensure_binaries() / "helm"), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(release: str, namespace: str, *sets: str) -> list[dict[str, Any]]:
    """``helm template`` of the chart as a list of manifests."""
    out = helm("template", release, str(CHART), "--namespace", namespace, *sets)
    return [d for d in yaml.safe_load_all(out) if d]


def apply(cp: ControlPlane, namespace: str, docs: list[dict[str, Any]], folder: Path) -> None:
    """``kubectl apply`` the manifests into ``namespace`` as admin."""
    manifest = folder / "chart.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    applied = subprocess.run(
        [
            str(ensure_binaries() / "kubectl"),
            "--kubeconfig",
            str(cp.admin_kubeconfig),
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


def service_account_may(api: client.ApiClient, namespace: str, account: str) -> May:
    """``may(verb, resource, group="", ns=, name=, sub=)``: SubjectAccessReview for the chart's SA."""
    authz = client.AuthorizationV1Api(api)

    def may(
        verb: str,
        resource: str,
        group: str = "",
        *,
        ns: str | None = None,
        name: str | None = None,
        sub: str | None = None,
    ) -> bool:
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=f"system:serviceaccount:{namespace}:{account}",
                groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource=resource, group=group, namespace=ns, name=name, subresource=sub
                ),
            )
        )
        return bool(authz.create_subject_access_review(review).status.allowed)

    return may
