"""Render the Helm chart, apply it to the test API server, and ask what its ServiceAccount may do.

Manifests are applied with server-side apply, so the real API server validates every field.
The ServiceMonitor CRD comes from the prometheus-operator Go module (``go mod download``, as the
control-plane binaries do) and is cached in ``~/.cache/k8s-runbook-bot/crds-prometheus-operator-<version>/``;
``python -m tests.harness.helm_chart`` fetches it ahead of the test run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.harness.binaries import CACHE_ROOT, _go_env, ensure_binaries
from tests.harness.control_plane import CONTEXT, ControlPlane

CHART = Path(__file__).resolve().parents[2] / "helm" / "k8s-runbook-bot"
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"
SERVICEMONITOR_CRD = "monitoring.coreos.com_servicemonitors.yaml"
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
May = Callable[..., bool]
# Value sets the tests share: PostgreSQL with two replicas, and Socket Mode.
HA = ["--set", "replicaCount=2", "--set", "store.existingSecret=runbook-bot-db", "--set", "store.urlKey=dsn"]
SOCKET = ["--set", "config.slack.mode=socket"]


def helm_run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run helm and return the finished process (not checked)."""
    return subprocess.run([str(ensure_binaries() / "helm"), *args], capture_output=True, text=True, check=False)


def helm(*args: str) -> str:
    """Run helm; fail with its stderr."""
    result = helm_run(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(release: str, namespace: str, *sets: str) -> list[dict[str, Any]]:
    """``helm template`` of the chart as a list of manifests."""
    out = helm("template", release, str(CHART), "--namespace", namespace, *sets)
    return [d for d in yaml.safe_load_all(out) if d]


def render_error(release: str, namespace: str, *sets: str) -> str:
    """The error of a ``helm template`` that must fail (asserts that it does)."""
    result = helm_run("template", release, str(CHART), "--namespace", namespace, *sets)
    assert result.returncode != 0, f"rendering should have failed with {sets}:\n{result.stdout[:2000]}"
    return result.stderr


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rendered manifests by kind (the chart renders at most one of each)."""
    return {d["kind"]: d for d in docs}


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's pod spec."""
    return dict(by_kind(docs)["Deployment"]["spec"]["template"]["spec"])


def container_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The bot container's environment: name → value (or valueFrom)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in pod_spec(docs)["containers"][0]["env"]}


def pod_volume(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """One of the pod's volumes by name."""
    return dict(next(v for v in pod_spec(docs)["volumes"] if v["name"] == name))


def kubectl(cp: ControlPlane, *args: str) -> str:
    """Run kubectl as admin against the test control plane; fail with its stderr."""
    cmd = [str(ensure_binaries() / "kubectl"), "--kubeconfig", str(cp.admin_kubeconfig), "--context", CONTEXT, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def apply(cp: ControlPlane, namespace: str, docs: list[dict[str, Any]], folder: Path) -> Path:
    """Server-side apply the manifests into ``namespace`` as admin (the API server checks every field).

    Returns the manifest file written into ``folder``.
    """
    manifest = folder / "chart.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    kubectl(cp, "apply", "--server-side", "--field-manager=chart-test", "-n", namespace, "-f", str(manifest))
    return manifest


def delete_cluster_scoped(cp: ControlPlane, docs: list[dict[str, Any]]) -> None:
    """Delete what the namespace's deletion leaves behind (ClusterRoles and their bindings)."""
    for doc in docs:
        if doc["kind"] in CLUSTER_SCOPED - {"CustomResourceDefinition"}:
            kubectl(cp, "delete", "--ignore-not-found", doc["kind"].lower(), doc["metadata"]["name"])


def servicemonitor_crd() -> Path:
    """The ServiceMonitor CRD of prometheus-operator, fetched once from its Go module and cached."""
    cached = CACHE_ROOT / f"crds-prometheus-operator-{PROMETHEUS_OPERATOR_VERSION}" / SERVICEMONITOR_CRD
    if cached.is_file():
        return cached
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to fetch the prometheus-operator CRDs and is not on PATH")
    module = f"github.com/prometheus-operator/prometheus-operator@{PROMETHEUS_OPERATOR_VERSION}"
    found = subprocess.run(
        ["go", "mod", "download", "-json", module],
        capture_output=True,
        text=True,
        env=_go_env(),
        check=True,
        cwd=tempfile.gettempdir(),
    )
    source = Path(json.loads(found.stdout)["Dir"]) / "example" / "prometheus-operator-crd" / SERVICEMONITOR_CRD
    if not source.is_file():
        raise RuntimeError(f"the ServiceMonitor CRD is not at {source}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial")
    shutil.copyfile(source, partial)
    partial.rename(cached)
    return cached


def install_servicemonitor_crd(cp: ControlPlane) -> None:
    """Apply the ServiceMonitor CRD (idempotent) and wait until the API server serves it."""
    kubectl(cp, "apply", "--server-side", "--field-manager=chart-test", "-f", str(servicemonitor_crd()))
    kubectl(cp, "wait", "--for=condition=Established", "--timeout=60s", "crd/servicemonitors.monitoring.coreos.com")


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


if __name__ == "__main__":
    print(servicemonitor_crd())
