"""The fallback: two Deployments behind one Service; the split is the ratio of their replicas.

A Service balances across ready endpoints, so the real split is coarse: 90/10 with 4 pods is
75/25. The plan says what split the replica counts give and which counts it will set; the total
number of pods stays the same.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from bot.clients.kube import KubeAccess
from bot.errors import UserError
from bot.model import ObjectRef, Permission, Weights
from bot.selectors import label_selector_matches
from bot.steps.canary.driver import Action, BackendName, Proposal, RuleWeights, Split, Target, Write
from bot.steps.canary.objects import MERGE_PATCH, Obj
from bot.steps.workloads.hpa import hpas_for


def service_selects(service: Obj, deployment: Obj) -> bool:
    """Does the Service's selector select the Deployment's pods?"""
    selector = (service.get("spec") or {}).get("selector") or {}
    labels = (((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    return bool(selector) and label_selector_matches({"matchLabels": selector}, labels)


def replica_counts(total: int, weights: Weights) -> tuple[int, int]:
    """(stable, canary) pods out of ``total`` closest to the split; a side asked for >0% keeps ≥1 pod."""
    canary = round(total * weights.canary / 100)
    if weights.canary > 0 and canary == 0:
        canary = 1
    if weights.stable > 0 and canary == total:
        canary = total - 1
    return total - canary, canary


def pods_for_exact(weights: Weights) -> int:
    """The smallest pod count that gives exactly this split (90/10 → 10, 75/25 → 4)."""
    return 100 // math.gcd(weights.stable, weights.canary) if weights.stable and weights.canary else 1


def _replicas(deployment: Obj) -> int:
    value = (deployment.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


class ReplicaRatio:
    """Scale the stable and canary Deployments so their pod ratio approximates the split."""

    router: ClassVar[str] = "replicas"

    def read_permissions(self, target: Target) -> list[Permission]:
        """get on both Deployments and the Service."""
        ns = target.namespace
        return [
            Permission(verb="get", resource="services", namespace=ns, name=target.route),
            Permission(verb="get", resource="deployments", group="apps", namespace=ns, name=target.stable.name),
            Permission(verb="get", resource="deployments", group="apps", namespace=ns, name=target.canary.name),
        ]

    def read(self, kube: KubeAccess, target: Target) -> Split:
        """Replica counts (and ready pods) of both Deployments behind the Service."""
        apps, ns = kube.apps, target.namespace
        ser = kube.api_client.sanitize_for_serialization
        service = ser(kube.core.read_namespaced_service(target.route, ns, _request_timeout=kube.timeout))
        stable = ser(apps.read_namespaced_deployment(target.stable.name, ns, _request_timeout=kube.timeout))
        canary = ser(apps.read_namespaced_deployment(target.canary.name, ns, _request_timeout=kube.timeout))
        for dep in (stable, canary):
            if not service_selects(service, dep):
                raise UserError(
                    f"Service {ns}/{target.route} does not select the pods of deployment {dep['metadata']['name']}",
                    hint="the replica ratio only splits traffic when one Service selects both Deployments",
                )
        rule = RuleWeights(
            f"Service {target.route} (deployment/{target.stable.name} : deployment/{target.canary.name} pods)",
            _replicas(stable),
            _replicas(canary),
        )
        ready = [int((d.get("status") or {}).get("readyReplicas") or 0) for d in (stable, canary)]
        notes = [f"ready pods now: {ready[0]} stable, {ready[1]} canary (the Service balances over ready pods)"]
        return Split(
            self.router,
            ObjectRef(kind="Service", name=target.route, namespace=ns),
            [rule],
            notes,
            raw={"stable": stable, "canary": canary},
            fingerprint={
                "replicas": [rule.stable, rule.canary],
                "uids": [stable["metadata"]["uid"], canary["metadata"]["uid"]],
            },
        )

    def propose(self, kube: KubeAccess, target: Target, split: Split, action: Action, weights: Weights) -> Proposal:
        """New replica counts keeping the total; warnings on coarseness and HPAs."""
        before = split.rules[0]
        total = before.stable + before.canary
        if total == 0:
            raise UserError(
                f"deployments {target.stable.name} and {target.canary.name} are both scaled to 0: "
                "there is no traffic to split",
                hint=f"scale {target.stable.name} up first",
            )
        if total == 1 and 0 < weights.canary < 100:
            raise UserError(
                f"one pod cannot be split {weights}",
                hint=f"scale to at least 2 pods (an exact {weights} needs {pods_for_exact(weights)})",
            )
        new_s, new_c = replica_counts(total, weights)
        after = RuleWeights(before.where, new_s, new_c)
        proposal = Proposal(before=[before], after=[after], warnings=[])
        if after.split_text() != str(weights):
            proposal.warnings.append(
                f"replicas can only approximate: {weights} with {total} pods is {after.split_text()} "
                f"({new_s} stable, {new_c} canary); an exact {weights} needs a multiple of "
                f"{pods_for_exact(weights)} pods"
            )
        proposal.details.append(
            f"deployment {target.stable.name} {before.stable} → {new_s} replicas, "
            f"deployment {target.canary.name} {before.canary} → {new_c} replicas (total stays {total})"
        )
        for name, old, new in ((target.stable.name, before.stable, new_s), (target.canary.name, before.canary, new_c)):
            hpas = hpas_for(kube, target.namespace, "Deployment", name) or []
            for hpa in hpas:
                proposal.warnings.append(
                    f"HPA {hpa['metadata']['name']} manages deployment {name}: it will override {new} replicas"
                )
            if old != new:
                proposal.writes.append(_scale_write(target.namespace, name, new))
        return proposal


def _scale_write(namespace: str, name: str, replicas: int) -> Write:
    def submit(kube: KubeAccess, dry: str | None) -> Any:
        return kube.apps.patch_namespaced_deployment_scale(
            name,
            namespace,
            {"spec": {"replicas": replicas}},
            _content_type=MERGE_PATCH,
            _request_timeout=kube.timeout,
            **({"dry_run": dry} if dry else {}),
        )

    return Write(
        what=f"scaling deployment {namespace}/{name} to {replicas}",
        submit=submit,
        permissions=[
            Permission(
                verb="patch", resource="deployments", group="apps", subresource="scale", namespace=namespace, name=name
            )
        ],
        target=ObjectRef(kind="Deployment", name=name, namespace=namespace),
    )


def find_pair(
    service: Obj, deployments: list[Obj], stables: list[BackendName], canaries: list[BackendName]
) -> tuple[BackendName, BackendName] | None:
    """The (stable, canary) Deployments the Service selects, from the candidate names."""
    by_name = {d["metadata"]["name"]: d for d in deployments}
    for s in stables:
        for c in canaries:
            both = s.name in by_name and c.name in by_name
            if both and service_selects(service, by_name[s.name]) and service_selects(service, by_name[c.name]):
                return s, c
    return None
