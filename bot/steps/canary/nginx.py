"""ingress-nginx canary: a second Ingress annotated ``canary: "true"`` takes ``canary-weight`` of
``canary-weight-total`` (default 100) of the main Ingress's traffic for the same host and path.

Header and cookie rules (``canary-by-header``, ``canary-by-cookie``) win over the weight for the
requests they match; the plan says so when they are set.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kubernetes import client

from bot.clients.kube import KubeAccess
from bot.errors import UserError
from bot.model import ObjectRef, Permission, Weights
from bot.steps.canary.driver import Action, BackendName, Proposal, RuleWeights, Split, Target, Write, scaled
from bot.steps.canary.objects import MERGE_PATCH, Obj

PREFIX = "nginx.ingress.kubernetes.io/"
CANARY = PREFIX + "canary"
WEIGHT = PREFIX + "canary-weight"
TOTAL = PREFIX + "canary-weight-total"
PRECEDENCE = (PREFIX + "canary-by-header", PREFIX + "canary-by-cookie")
DEFAULT_TOTAL = 100


def networking(kube: KubeAccess) -> client.NetworkingV1Api:
    """NetworkingV1Api bound to ``kube``'s identity."""
    api: client.NetworkingV1Api = kube.api(client.NetworkingV1Api)
    return api


def is_canary(ingress: Obj) -> bool:
    """Does this Ingress carry ``nginx.ingress.kubernetes.io/canary: "true"``?"""
    return ((ingress.get("metadata") or {}).get("annotations") or {}).get(CANARY) == "true"


def services(ingress: Obj) -> set[str]:
    """The Service names an Ingress sends to (default backend and every path)."""
    spec = ingress.get("spec") or {}
    names = {((spec.get("defaultBackend") or {}).get("service") or {}).get("name")}
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            names.add(((path.get("backend") or {}).get("service") or {}).get("name"))
    return {n for n in names if n}


def hosts(ingress: Obj) -> set[str]:
    """The hosts of an Ingress's rules."""
    return {str(r.get("host", "")) for r in (ingress.get("spec") or {}).get("rules") or []}


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


class NginxCanary:
    """The canary Ingress's weight annotations."""

    router: ClassVar[str] = "nginx"

    def find_pair(
        self, obj: Obj, namespace: str, stables: list[BackendName], canaries: list[BackendName]
    ) -> tuple[BackendName, BackendName] | None:
        """A canary Ingress sending to a canary candidate pairs with the first stable candidate."""
        if not is_canary(obj):
            return None
        sent = services(obj)
        for c in canaries:
            if c.name in sent:
                return stables[0], c
        return None

    def read_permissions(self, target: Target) -> list[Permission]:
        """get on the canary Ingress."""
        return [_perm("get", target)]

    def read(self, kube: KubeAccess, target: Target) -> Split:
        """canary-weight of canary-weight-total, and which main Ingress it shadows."""
        raw = networking(kube).read_namespaced_ingress(target.route, target.namespace, _request_timeout=kube.timeout)
        obj: Obj = kube.api_client.sanitize_for_serialization(raw)
        if not is_canary(obj):
            raise UserError(f"Ingress {target.where} is not an ingress-nginx canary (annotation {CANARY} is not true)")
        ann = obj["metadata"].get("annotations") or {}
        total = _int(ann.get(TOTAL), DEFAULT_TOTAL)
        weight = _int(ann.get(WEIGHT), 0)
        notes = [
            f"{a} is set: requests it matches go to the canary whatever the weight" for a in PRECEDENCE if a in ann
        ]
        main = _main_ingress(kube, target.namespace, obj)
        where = f"Ingress {target.route} (canary of {main or 'no main Ingress found'})"
        if main is None:
            notes.append(
                "no main (non-canary) Ingress for the same host was found: ingress-nginx ignores a lone canary"
            )
        rule = RuleWeights(where, max(total - weight, 0), weight)
        return Split(
            self.router,
            ObjectRef(kind="Ingress", name=target.route, namespace=target.namespace),
            [rule],
            notes,
            raw=obj,
            fingerprint={"uid": obj["metadata"].get("uid"), "weight": ann.get(WEIGHT), "total": ann.get(TOTAL)},
        )

    def propose(self, kube: KubeAccess, target: Target, split: Split, action: Action, weights: Weights) -> Proposal:
        """New canary-weight (and canary-weight-total when it is not the default)."""
        ann = split.raw["metadata"].get("annotations") or {}
        total = target.settings.weight_total
        _, canary = scaled(weights, total)
        patch: dict[str, str] = {}
        if ann.get(WEIGHT) != str(canary):
            patch[WEIGHT] = str(canary)
        if ann.get(TOTAL, str(DEFAULT_TOTAL)) != str(total):
            patch[TOTAL] = str(total)
        after = RuleWeights(split.rules[0].where, total - canary, canary)
        proposal = Proposal(before=split.rules, after=[after], warnings=list(split.notes))
        if patch:
            body = {"metadata": {"annotations": patch, "resourceVersion": split.raw["metadata"]["resourceVersion"]}}
            proposal.writes.append(
                Write(
                    what=f"the canary weight of Ingress {target.where}",
                    submit=lambda k, dry: networking(k).patch_namespaced_ingress(
                        target.route,
                        target.namespace,
                        body,
                        _content_type=MERGE_PATCH,
                        _request_timeout=k.timeout,
                        **({"dry_run": dry} if dry else {}),
                    ),
                    permissions=[_perm("patch", target)],
                    target=split.obj,
                )
            )
        return proposal


def _perm(verb: str, target: Target) -> Permission:
    return Permission(
        verb=verb, resource="ingresses", group="networking.k8s.io", namespace=target.namespace, name=target.route
    )


def _main_ingress(kube: KubeAccess, namespace: str, canary: Obj) -> str | None:
    """The non-canary Ingress serving the same host (None when the requester may not list, or none)."""
    try:
        items = kube.list_raw(networking(kube).list_namespaced_ingress, namespace=namespace)
        for item in items:
            if not is_canary(item) and hosts(item) & hosts(canary):
                return str(item["metadata"]["name"])
    except client.ApiException as exc:
        if exc.status != 403:
            raise
    return None
