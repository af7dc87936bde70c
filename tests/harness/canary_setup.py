"""Objects for the canary tests: the routers' CRDs and RBAC, and one app routed each way.

Every router's real CRD is installed (``tests.harness.crds``); no router controller runs — the
tests check the stored objects, which is what the controllers would read.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.harness.crds import install_crds
from tests.harness.rbac import bind_cluster_role, ensure_cluster_role
from tests.harness.workloads import IMAGE

ROUTER_CRDS = (
    ("gateway-api", ("httproutes",)),
    ("contour", ("httpproxies",)),
    ("istio", ("virtualservices",)),
    ("argo-rollouts", ("rollouts",)),
    ("flagger", ("canaries",)),
)
ROUTER_RESOURCES = [
    {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes"]},
    {"apiGroups": ["projectcontour.io"], "resources": ["httpproxies"]},
    {"apiGroups": ["networking.istio.io"], "resources": ["virtualservices"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"]},
    {"apiGroups": ["argoproj.io"], "resources": ["rollouts", "rollouts/status"]},
    {"apiGroups": ["flagger.app"], "resources": ["canaries"]},
    {"apiGroups": [""], "resources": ["services"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"]},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"]},
]


def install_router_crds(api: client.ApiClient) -> None:
    """Gateway API HTTPRoute, Contour HTTPProxy, Istio VirtualService, Argo Rollout, Flagger Canary."""
    for name, plurals in ROUTER_CRDS:
        install_crds(api, name, plurals)


def grant_canary(api: client.ApiClient) -> None:
    """sre may read and patch every router object; interns may only read them."""
    read = [{**r, "verbs": ["get", "list", "watch"]} for r in ROUTER_RESOURCES]
    write = [{**r, "verbs": ["get", "list", "watch", "patch"]} for r in ROUTER_RESOURCES]
    ensure_cluster_role(api, "canary-read", read)
    ensure_cluster_role(api, "canary-operator", write)
    bind_cluster_role(api, "canary-operator", group="sre")
    bind_cluster_role(api, "canary-read", group="interns")


def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    """CustomObjectsApi for the admin client."""
    return client.CustomObjectsApi(api)


def httproute(api: client.ApiClient, ns: str, name: str, backends: list[tuple[str, int | None]]) -> None:
    """An HTTPRoute with one rule (path /) sending to ``backends`` (name, weight or None)."""
    refs: list[dict[str, Any]] = []
    for backend, weight in backends:
        ref: dict[str, Any] = {"name": backend, "port": 80}
        if weight is not None:
            ref["weight"] = weight
        refs.append(ref)
    body = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}], "backendRefs": [refs[0]]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": refs},
            ],
        },
    }
    custom(api).create_namespaced_custom_object("gateway.networking.k8s.io", "v1", ns, "httproutes", body)


def httpproxy(api: client.ApiClient, ns: str, name: str, services: list[tuple[str, int | None]]) -> None:
    """A Contour HTTPProxy with one route sending to ``services``."""
    svc = []
    for backend, weight in services:
        item: dict[str, Any] = {"name": backend, "port": 80}
        if weight is not None:
            item["weight"] = weight
        svc.append(item)
    body = {
        "apiVersion": "projectcontour.io/v1",
        "kind": "HTTPProxy",
        "metadata": {"name": name},
        "spec": {
            "virtualhost": {"fqdn": f"{name}.example.com"},
            "routes": [{"conditions": [{"prefix": "/"}], "services": svc}],
        },
    }
    custom(api).create_namespaced_custom_object("projectcontour.io", "v1", ns, "httpproxies", body)


def virtualservice(api: client.ApiClient, ns: str, name: str, host: str, weights: tuple[int, int]) -> None:
    """An Istio VirtualService splitting host ``host`` between subsets stable and canary."""
    body = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {
            "hosts": [f"{host}.example.com"],
            "http": [
                {
                    "name": "primary",
                    "route": [
                        {
                            "destination": {"host": f"{host}.{ns}.svc.cluster.local", "subset": "stable"},
                            "weight": weights[0],
                        },
                        {
                            "destination": {"host": f"{host}.{ns}.svc.cluster.local", "subset": "canary"},
                            "weight": weights[1],
                        },
                    ],
                }
            ],
        },
    }
    custom(api).create_namespaced_custom_object("networking.istio.io", "v1", ns, "virtualservices", body)


def ingress(api: client.ApiClient, ns: str, name: str, service: str, annotations: dict[str, str] | None = None) -> None:
    """An Ingress for host <app>.example.com sending / to ``service``."""
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "shop.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
    client.NetworkingV1Api(api).create_namespaced_ingress(ns, body)


def service(api: client.ApiClient, ns: str, name: str, selector: dict[str, str]) -> None:
    """A ClusterIP Service selecting ``selector``."""
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    client.CoreV1Api(api).create_namespaced_service(ns, body)


def app_deployment(
    api: client.ApiClient, ns: str, name: str, replicas: int, labels: dict[str, str], image: str = IMAGE
) -> None:
    """A Deployment whose pods carry ``labels``; they select no node (stay Pending): the canary tests only
    read and write the Deployment, and no other test's node may receive them."""
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "app", "image": image}],
                    "nodeSelector": {"runbook-bot.test/no-such-node": "true"},
                    "terminationGracePeriodSeconds": 1,
                },
            },
        },
    }
    client.AppsV1Api(api).create_namespaced_deployment(ns, body)


def rollout(api: client.ApiClient, ns: str, name: str, *, step_index: int, paused: bool = True) -> None:
    """An Argo Rollout mid-update (as its controller would leave it): steps 10%, pause, 50%, pause, 100%."""
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": IMAGE}]},
            },
            "strategy": {
                "canary": {
                    "stableService": f"{name}-stable",
                    "canaryService": f"{name}-canary",
                    "steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}, {"setWeight": 100}],
                }
            },
        },
    }
    co = custom(api)
    co.create_namespaced_custom_object("argoproj.io", "v1alpha1", ns, "rollouts", body)
    status: dict[str, Any] = {
        "currentStepIndex": step_index,
        "stableRS": "5d9f7b6c8",
        "currentPodHash": "7c4b9d8f6",
        "phase": "Paused" if paused else "Progressing",
    }
    if paused:
        status["pauseConditions"] = [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}]
        status["controllerPause"] = True
    co.patch_namespaced_custom_object_status(
        "argoproj.io",
        "v1alpha1",
        ns,
        "rollouts",
        name,
        {"status": status},
        _content_type="application/merge-patch+json",
    )


def flagger_canary(api: client.ApiClient, ns: str, app: str) -> None:
    """A Flagger Canary targeting deployment ``app``."""
    body = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": app},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
            "service": {"port": 80},
            "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10},
        },
    }
    custom(api).create_namespaced_custom_object("flagger.app", "v1beta1", ns, "canaries", body)


def writes_in(events: list[dict[str, Any]], ns: str) -> list[dict[str, Any]]:
    """Audit events that changed something in ``ns`` (not dry runs), made through impersonation."""
    return [
        e
        for e in events
        if e.get("verb") in ("create", "update", "patch", "delete")
        and (e.get("objectRef") or {}).get("namespace") == ns
        and "dryRun" not in e.get("requestURI", "")
        and e.get("impersonatedUser")
    ]


def dry_runs_in(events: list[dict[str, Any]], ns: str) -> list[dict[str, Any]]:
    """Audit events of dry-run writes in ``ns``."""
    return [
        e
        for e in events
        if e.get("verb") in ("create", "update", "patch", "delete")
        and (e.get("objectRef") or {}).get("namespace") == ns
        and "dryRun=All" in e.get("requestURI", "")
    ]
