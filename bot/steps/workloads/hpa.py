"""HorizontalPodAutoscalers that manage a workload: they override any replica count set by hand."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.clients.kube import KubeAccess
from bot.model import Permission

Obj = dict[str, Any]


def autoscaling(kube: KubeAccess) -> client.AutoscalingV2Api:
    """AutoscalingV2Api bound to ``kube``'s identity."""
    api: client.AutoscalingV2Api = kube.api(client.AutoscalingV2Api)
    return api


def hpas_for(kube: KubeAccess, namespace: str, kind: str, name: str) -> list[Obj] | None:
    """The HPAs whose scaleTargetRef is ``kind/name``; None when the requester may not list HPAs."""
    try:
        items = list(kube.list_raw(autoscaling(kube).list_namespaced_horizontal_pod_autoscaler, namespace=namespace))
    except ApiException as exc:
        if exc.status == 403:
            return None
        raise
    return [
        h
        for h in items
        if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == kind
        and ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == name
    ]


def hpa_bounds(hpa: Obj) -> tuple[int, int]:
    """(minReplicas, maxReplicas); minReplicas defaults to 1."""
    spec = hpa.get("spec") or {}
    return int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 1)


def list_hpa_permission(namespace: str) -> Permission:
    """list horizontalpodautoscalers in ``namespace``."""
    return Permission(verb="list", resource="horizontalpodautoscalers", group="autoscaling", namespace=namespace)
