"""The routers' custom resources: where they live in the API and how the bot reads and patches them.

Everything goes through ``CustomObjectsApi`` as the requester, as raw JSON. A resource type the
cluster does not serve (its CRD is not installed) reads as "not served", one the requester may
not list as "forbidden" — discovery reports both instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.clients.kube import KubeAccess
from bot.model import Permission

Obj = dict[str, Any]
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Kind:
    """A custom resource type: API group, the versions tried (preferred first), plural and kind."""

    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str

    def permission(self, verb: str, namespace: str, name: str | None = None, subresource: str = "") -> Permission:
        """The RBAC permission to ``verb`` this resource (by name when given)."""
        return Permission(
            verb=verb, resource=self.plural, group=self.group, subresource=subresource, namespace=namespace, name=name
        )


HTTPROUTE = Kind("gateway.networking.k8s.io", ("v1", "v1beta1"), "httproutes", "HTTPRoute")
HTTPPROXY = Kind("projectcontour.io", ("v1",), "httpproxies", "HTTPProxy")
VIRTUALSERVICE = Kind("networking.istio.io", ("v1", "v1beta1", "v1alpha3"), "virtualservices", "VirtualService")
ROLLOUT = Kind("argoproj.io", ("v1alpha1",), "rollouts", "Rollout")
FLAGGER_CANARY = Kind("flagger.app", ("v1beta1",), "canaries", "Canary")


@dataclass
class Listing:
    """The objects of one kind in a namespace, and at which version they were read."""

    kind: Kind
    version: str
    items: list[Obj]


class NotServed(Exception):
    """The cluster serves no version of this kind (its CRD is not installed)."""


def custom(kube: KubeAccess) -> client.CustomObjectsApi:
    """The custom-objects API bound to ``kube``'s identity."""
    api: client.CustomObjectsApi = kube.api(client.CustomObjectsApi)
    return api


def list_kind(kube: KubeAccess, kind: Kind, namespace: str) -> Listing:
    """Every object of ``kind`` in ``namespace`` (NotServed when no version is served; 403 propagates)."""
    for version in kind.versions:
        try:
            body = custom(kube).list_namespaced_custom_object(
                kind.group, version, namespace, kind.plural, _request_timeout=kube.timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        return Listing(kind, version, list(body.get("items") or []))
    raise NotServed(kind.kind)


def get_object(kube: KubeAccess, kind: Kind, version: str, namespace: str, name: str) -> Obj:
    """One object, as JSON."""
    obj: Obj = custom(kube).get_namespaced_custom_object(
        kind.group, version, namespace, kind.plural, name, _request_timeout=kube.timeout
    )
    return obj


def json_patch(
    kube: KubeAccess, kind: Kind, version: str, namespace: str, name: str, ops: list[Obj], dry_run: str | None
) -> Obj:
    """Apply RFC 6902 operations (``test`` ops guard against a changed structure: 422 if they fail)."""
    extra = {"dry_run": dry_run} if dry_run else {}
    out: Obj = custom(kube).patch_namespaced_custom_object(
        kind.group,
        version,
        namespace,
        kind.plural,
        name,
        ops,
        _content_type=JSON_PATCH,
        _request_timeout=kube.timeout,
        **extra,
    )
    return out


def merge_patch(
    kube: KubeAccess,
    kind: Kind,
    version: str,
    namespace: str,
    name: str,
    body: Obj,
    dry_run: str | None,
    *,
    status: bool = False,
) -> Obj:
    """A JSON merge patch of the object, or of its ``status`` subresource."""
    extra = {"dry_run": dry_run} if dry_run else {}
    api = custom(kube)
    call = api.patch_namespaced_custom_object_status if status else api.patch_namespaced_custom_object
    out: Obj = call(
        kind.group,
        version,
        namespace,
        kind.plural,
        name,
        body,
        _content_type=MERGE_PATCH,
        _request_timeout=kube.timeout,
        **extra,
    )
    return out


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901): ``/spec/rules/0/backendRefs/1/weight``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
