"""Reading and patching Deployments, StatefulSets and DaemonSets as raw JSON, as the requester."""

from __future__ import annotations

from typing import Any

from bot.clients.kube import KubeAccess
from bot.model import Permission, WorkloadRef

Obj = dict[str, Any]
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
RESOURCES = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def perm(verb: str, ref: WorkloadRef, subresource: str = "") -> Permission:
    """``verb`` on the workload (by name), e.g. ``patch deployments/scale.apps `web` in namespace shop``."""
    return Permission(
        verb=verb,
        resource=RESOURCES[ref.kind],
        group="apps",
        subresource=subresource,
        namespace=ref.namespace,
        name=ref.name,
    )


def read_workload(kube: KubeAccess, ref: WorkloadRef) -> Obj:
    """The workload as JSON."""
    apps = kube.apps
    reader = {
        "Deployment": apps.read_namespaced_deployment,
        "StatefulSet": apps.read_namespaced_stateful_set,
        "DaemonSet": apps.read_namespaced_daemon_set,
    }[ref.kind]
    obj: Obj = kube.api_client.sanitize_for_serialization(
        reader(ref.name, ref.namespace, _request_timeout=kube.timeout)
    )
    return obj


def patch_workload(
    kube: KubeAccess, ref: WorkloadRef, body: Any, dry_run: str | None = None, *, content_type: str = STRATEGIC_MERGE
) -> Obj:
    """Patch the workload (strategic merge by default); ``dry_run="All"`` only asks the server."""
    apps = kube.apps
    patcher = {
        "Deployment": apps.patch_namespaced_deployment,
        "StatefulSet": apps.patch_namespaced_stateful_set,
        "DaemonSet": apps.patch_namespaced_daemon_set,
    }[ref.kind]
    extra = {"dry_run": dry_run} if dry_run else {}
    out = patcher(ref.name, ref.namespace, body, _content_type=content_type, _request_timeout=kube.timeout, **extra)
    result: Obj = kube.api_client.sanitize_for_serialization(out)
    return result


def containers(obj: Obj) -> list[Obj]:
    """The pod template's containers."""
    return list((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [])


def images(template_owner: Obj) -> str:
    """``app=registry/app:2, sidecar=…`` for a workload or ReplicaSet."""
    return ", ".join(f"{c.get('name')}={c.get('image')}" for c in containers(template_owner)) or "no containers"


def replicas_of(obj: Obj) -> int:
    """spec.replicas (1 when unset)."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)
