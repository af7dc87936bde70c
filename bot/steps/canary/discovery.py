"""How an app maps to the object carrying its split, and its stable/canary backends.

In order:

1. ``canary.apps.<app>`` in the configuration (``router``/``route``/``stable``/``canary``): used as is.
2. An owner: an Argo ``Rollout`` or a Flagger ``Canary`` named after the app (or labelled
   ``runbook-bot.io/canary-app: <app>``; a Flagger Canary whose target is the app) — the bot then
   drives (Argo) or defers to (Flagger) that controller instead of the route.
3. A route — HTTPRoute, HTTPProxy, VirtualService, canary Ingress — labelled
   ``runbook-bot.io/canary-app: <app>`` (backends from the annotations
   ``runbook-bot.io/canary-stable`` / ``runbook-bot.io/canary-canary``), or with a rule sending to
   the conventional names: stable ``<app>``, ``<app>-stable`` or ``<app>-primary`` (Istio: also
   host ``<app>`` subset ``stable``), canary ``<app>-canary`` (Istio: subset ``canary``).
4. The fallback: a Service (``<app>`` or labelled) selecting both conventional Deployments.

Two matches are refused (say which in the configuration); none is an unknown app, with the
names that do look like canary apps. Kinds the cluster does not serve are skipped; kinds the
requester may not list are named in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from bot.clients.kube import KubeAccess
from bot.config.canary import CanaryApp, CanarySettings
from bot.errors import NotFoundError, UserError
from bot.selectors import cluster_matches
from bot.steps.canary.contour import ContourRoutes
from bot.steps.canary.driver import BackendName, Target
from bot.steps.canary.gateway import GatewayRoutes
from bot.steps.canary.istio import IstioRoutes
from bot.steps.canary.nginx import NginxCanary, networking
from bot.steps.canary.objects import FLAGGER_CANARY, ROLLOUT, Kind, Listing, NotServed, Obj, list_kind
from bot.steps.canary.replicas import find_pair as replica_pair
from bot.steps.resolve import closest

LABEL_APP = "runbook-bot.io/canary-app"
ANN_STABLE = "runbook-bot.io/canary-stable"
ANN_CANARY = "runbook-bot.io/canary-canary"
CUSTOM_ROUTERS: tuple[GatewayRoutes | ContourRoutes | IstioRoutes, ...] = (
    GatewayRoutes(),
    ContourRoutes(),
    IstioRoutes(),
)


@dataclass
class _Search:
    """What a discovery pass found and could not check."""

    app: str
    namespace: str
    found: list[Target] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    seen_apps: set[str] = field(default_factory=set)


def conventional(app: str) -> tuple[list[BackendName], list[BackendName]]:
    """The default stable and canary backend names of ``app``."""
    stables = [
        BackendName(app),
        BackendName(f"{app}-stable"),
        BackendName(f"{app}-primary"),
        BackendName(app, "stable"),
    ]
    return stables, [BackendName(f"{app}-canary"), BackendName(app, "canary")]


def app_settings(settings: CanarySettings, app: str, cluster: str, environment: str) -> CanaryApp | None:
    """The configured entry for ``app`` on this cluster, if any."""
    entry = settings.apps.get(app)
    return entry if entry is not None and cluster_matches(entry.clusters, cluster, environment) else None


def _names(app: str, cfg: CanaryApp | None, obj: Obj | None) -> tuple[list[BackendName], list[BackendName]]:
    """Backends to look for: configured, else annotated on a labelled object, else conventional."""
    stables, canaries = conventional(app)
    ann = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    if obj is not None and ann.get(ANN_STABLE) and ann.get(ANN_CANARY):
        stables, canaries = [BackendName(ann[ANN_STABLE])], [BackendName(ann[ANN_CANARY])]
    if cfg is not None and cfg.stable:
        stables = [BackendName(cfg.stable, cfg.stable_subset)]
    if cfg is not None and cfg.canary:
        canaries = [BackendName(cfg.canary, cfg.canary_subset)]
    return stables, canaries


def _labelled(obj: Obj, app: str) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_APP) == app


def _listing(kube: KubeAccess, kind: Kind, search: _Search) -> Listing | None:
    try:
        return list_kind(kube, kind, search.namespace)
    except NotServed:
        return None
    except ApiException as exc:
        if exc.status == 403:
            search.unchecked.append(f"{kind.plural}.{kind.group} (you may not list them)")
            return None
        raise


def _owners(kube: KubeAccess, search: _Search, cfg: CanaryApp) -> None:
    app = search.app
    for router, kind in (("argo", ROLLOUT), ("flagger", FLAGGER_CANARY)):
        listing = _listing(kube, kind, search)
        if listing is None:
            continue
        for obj in listing.items:
            name = obj["metadata"]["name"]
            target_ref = ((obj.get("spec") or {}).get("targetRef") or {}).get("name")
            if name == app or _labelled(obj, app) or (router == "flagger" and target_ref == app):
                search.found.append(_target(search, router, name, cfg, listing, f"{kind.kind} {name} owns it"))
            search.seen_apps.add(name)


def _target(
    search: _Search,
    router: str,
    route: str,
    cfg: CanaryApp,
    listing: Listing,
    how: str,
    *,
    pair: tuple[BackendName, BackendName] | None = None,
) -> Target:
    stable, canary = pair or (BackendName(search.app), BackendName(f"{search.app}-canary"))
    return Target(search.app, search.namespace, router, route, stable, canary, cfg, listing.version, how)


def _routes(kube: KubeAccess, search: _Search, cfg: CanaryApp, only: str | None) -> None:
    for driver in CUSTOM_ROUTERS:
        if only not in (None, driver.router):
            continue
        listing = _listing(kube, driver.kind, search)
        if listing is None:
            continue
        for obj in listing.items:
            stables, canaries = _names(
                search.app, cfg if cfg.stable or cfg.canary else None, obj if _labelled(obj, search.app) else None
            )
            pair = driver.find_pair(obj, search.namespace, stables, canaries)
            name = obj["metadata"]["name"]
            if pair and (only is None or cfg.route in (None, name)):
                how = "label" if _labelled(obj, search.app) else "backend names"
                search.found.append(_target(search, driver.router, name, cfg, listing, how, pair=pair))
            search.seen_apps.update(_apps_in(obj))
    if only in (None, "nginx"):
        _nginx(kube, search, cfg)


def _nginx(kube: KubeAccess, search: _Search, cfg: CanaryApp) -> None:
    try:
        items = list(kube.list_raw(networking(kube).list_namespaced_ingress, namespace=search.namespace))
    except ApiException as exc:
        if exc.status != 403:
            raise
        search.unchecked.append("ingresses.networking.k8s.io (you may not list them)")
        return
    driver = NginxCanary()
    for obj in items:
        stables, canaries = _names(
            search.app, cfg if cfg.stable or cfg.canary else None, obj if _labelled(obj, search.app) else None
        )
        pair = driver.find_pair(obj, search.namespace, stables, canaries)
        name = obj["metadata"]["name"]
        if pair and cfg.route in (None, name):
            search.found.append(
                Target(search.app, search.namespace, "nginx", name, pair[0], pair[1], cfg, "v1", "canary Ingress")
            )
        search.seen_apps.update(_apps_in(obj))


def _replicas(kube: KubeAccess, search: _Search, cfg: CanaryApp) -> None:
    try:
        services = list(kube.list_raw(kube.core.list_namespaced_service, namespace=search.namespace))
        deployments = list(kube.list_raw(kube.apps.list_namespaced_deployment, namespace=search.namespace))
    except ApiException as exc:
        if exc.status != 403:
            raise
        search.unchecked.append("services and deployments (you may not list them)")
        return
    stables, canaries = _names(search.app, cfg if cfg.stable_deployment or cfg.canary_deployment else None, None)
    if cfg.stable_deployment:
        stables = [BackendName(cfg.stable_deployment)]
    if cfg.canary_deployment:
        canaries = [BackendName(cfg.canary_deployment)]
    for service in services:
        name = service["metadata"]["name"]
        if name != search.app and not _labelled(service, search.app) and cfg.route != name:
            continue
        pair = replica_pair(service, deployments, stables, canaries)
        if pair:
            search.found.append(
                Target(
                    search.app,
                    search.namespace,
                    "replicas",
                    name,
                    pair[0],
                    pair[1],
                    cfg,
                    "v1",
                    "two Deployments behind one Service",
                )
            )
    search.seen_apps.update(
        d["metadata"]["name"][: -len("-canary")] for d in deployments if d["metadata"]["name"].endswith("-canary")
    )


def _apps_in(obj: Obj) -> set[str]:
    """App names an object suggests: its canary-app label, and ``<x>`` for every ``<x>-canary`` it names."""
    found = set()
    label = ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_APP)
    if label:
        found.add(str(label))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("name", "host") and isinstance(value, str) and value.endswith("-canary"):
                    found.add(value[: -len("-canary")].split(".")[0])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(obj.get("spec"))
    return found


def discover(
    kube: KubeAccess, settings: CanarySettings, cluster: str, environment: str, app: str, namespace: str
) -> Target:
    """The one object carrying ``app``'s split; NotFoundError / UserError when none or several."""
    cfg = app_settings(settings, app, cluster, environment)
    search = _Search(app, (cfg.namespace if cfg and cfg.namespace else namespace))
    cfg = cfg or CanaryApp()
    only = cfg.router
    if only in (None, "argo", "flagger"):
        _owners(kube, search, cfg)
        search.found = [t for t in search.found if only in (None, t.router) and cfg.route in (None, t.route)]
    if not search.found and only not in ("argo", "flagger", "replicas"):
        _routes(kube, search, cfg, only)
    if not search.found and only in (None, "replicas"):
        _replicas(kube, search, cfg)
    if len(search.found) == 1:
        return search.found[0]
    if search.found:
        listed = ", ".join(f"{t.router} {t.route}" for t in search.found)
        raise UserError(
            f"app {app} in namespace {search.namespace} is routed by more than one object: {listed}",
            hint=f"say which in the configuration: canary.apps.{app}.router and .route",
        )
    err = NotFoundError(
        "canary app", app, closest(app, sorted(search.seen_apps)), where=f"in namespace {search.namespace}"
    )
    checked = "no route, Rollout, Canary or Service pair sends to it"
    err.hint = " ".join(
        x
        for x in [err.hint, checked + ("; not checked: " + ", ".join(search.unchecked) if search.unchecked else "")]
        if x
    )
    raise err
