"""A canary app for the guarded-progression tests, a clock the tests move, and what the audit log says.

``canary_app`` makes an HTTPRoute ``<app>`` sending 100/0 to the Services ``<app>`` / ``<app>-canary``,
and a Deployment ``<app>-canary`` whose pods kwok runs (Ready) on the given node(s) — the pods the
guard watches. ``crash`` annotates one canary pod so kwok's ``pod-crash`` stage makes it crash-loop.
``route_patches`` reads the weights of every real (not dry-run) patch of the route from the API
server's audit log (the test policy records HTTPRoute patch bodies), in the order they were made.

``FileClock`` is real time plus an offset kept in a file: the test and a bot in another process
(``tests.harness.progression_worker``) read the same clock, and the test moves it forward.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.harness import canary_setup as cs
from tests.harness.control_plane import ControlPlane
from tests.harness.kwok_nodes import wait_for, wait_pods_running
from tests.harness.trust_setup import grant, settings_doc

CRASH = "test.runbook-bot.io/crash"
EVERY = timedelta(minutes=5)
ROUTES = ("gateway.networking.k8s.io", "v1", "httproutes")


class FileClock:
    """Real UTC time plus an offset stored in ``path`` (shared between processes); ``advance`` moves it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        if not path.exists():
            path.write_text("0")

    def offset(self) -> float:
        """The offset in seconds."""
        return float(self.path.read_text() or 0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset())

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward (for every process reading it)."""
        with self._lock:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(str(self.offset() + delta.total_seconds()))
            tmp.replace(self.path)


def grant_progression(api: client.ApiClient) -> None:
    """sre may patch routes, read Services/Deployments and list/watch pods (the guard)."""
    grant(api)
    cs.install_router_crds(api)
    cs.grant_canary(api)


def progression_doc(kubeconfig: Path, store_url: str, **canary: Any) -> dict[str, Any]:
    """The trust cast's settings (staging, prod…) with fast heartbeats, so a dead owner is noticed in seconds."""
    doc = settings_doc(kubeconfig, store_url)
    doc["execution"] = {"heartbeat_seconds": 0.5, "stale_after_seconds": 3, "recover_every_seconds": 1}
    doc["canary"] = {"unready_after": "30s", **canary}
    return doc


def canary_app(
    api: client.ApiClient, ns: str, app: str, node_selector: dict[str, str], replicas: int = 2
) -> list[client.V1Pod]:
    """HTTPRoute ``app`` at 100/0, Services ``app`` and ``app-canary``, and ``app-canary``'s Ready pods."""
    cs.httproute(api, ns, app, [(app, 100), (f"{app}-canary", 0)])
    cs.service(api, ns, app, {"app": app, "track": "stable"})
    cs.service(api, ns, f"{app}-canary", {"app": app, "track": "canary"})
    labels = {"app": app, "track": "canary"}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{app}-canary"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "app", "image": "registry.local/web:2"}],
                    "nodeSelector": node_selector,
                    "tolerations": [{"operator": "Exists"}],
                    "terminationGracePeriodSeconds": 1,
                },
            },
        },
    }
    client.AppsV1Api(api).create_namespaced_deployment(ns, body)
    core = client.CoreV1Api(api)
    selector = f"app={app},track=canary"
    wait_pods_running(core, ns, selector, replicas)
    return wait_for(f"{replicas} ready canary pods", lambda: _ready(core, ns, selector, replicas), 60)


def _ready(core: client.CoreV1Api, ns: str, selector: str, count: int) -> list[client.V1Pod] | None:
    pods = [
        p
        for p in core.list_namespaced_pod(ns, label_selector=selector).items
        if any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
    ]
    return pods if len(pods) >= count else None


def crash(api: client.ApiClient, ns: str, pod: str) -> None:
    """Make a running canary pod start crash-looping (kwok's pod-crash stage)."""
    client.CoreV1Api(api).patch_namespaced_pod(pod, ns, {"metadata": {"annotations": {CRASH: "true"}}})


def route_split(api: client.ApiClient, ns: str, app: str) -> str:
    """``90/10``: the stored weights of the route's rule that sends to both backends."""
    obj = client.CustomObjectsApi(api).get_namespaced_custom_object(*ROUTES[:2], ns, ROUTES[2], app)
    weights = [b.get("weight") for b in obj["spec"]["rules"][1]["backendRefs"]]
    return f"{weights[0]}/{weights[1]}"


def wait_split(api: client.ApiClient, ns: str, app: str, split: str, timeout: float = 30) -> None:
    """Wait until the route is at ``split``."""
    wait_for(f"route {app} at {split}", lambda: True if route_split(api, ns, app) == split else None, timeout)


def route_patches(cp: ControlPlane, ns: str, app: str, run_id: str) -> list[str]:
    """The splits written by the run's real patches of the route, in order (from the API audit log)."""
    out = []
    for event in cp.read_audit_events():
        ref = event.get("objectRef") or {}
        extra = json.dumps((event.get("impersonatedUser") or {}).get("extra") or {})
        if (
            event.get("verb") != "patch"
            or ref.get("resource") != "httproutes"
            or ref.get("namespace") != ns
            or ref.get("name") != app
            or "dryRun" in event.get("requestURI", "")
            or run_id not in extra
            or event.get("stage") != "ResponseComplete"
            or (event.get("responseStatus") or {}).get("code", 200) >= 300
        ):
            continue
        weights = [op["value"] for op in event.get("requestObject") or [] if op.get("op") == "add"]
        out.append("/".join(str(w) for w in weights))
    return out
