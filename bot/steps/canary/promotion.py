"""``promote_image``: after ``promote``, the stable Deployment runs the canary's images.

Traffic stays on the canary (promote sent it 100%) while the stable Deployment rolls out the new
images; ``canary <app> 100/0`` sends traffic back once it is ready. Containers are matched by
name; the plan shows each image before → after.
"""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from bot.clients.kube import KubeAccess
from bot.errors import UserError
from bot.model import ObjectRef, Permission
from bot.steps.canary.driver import Proposal, Target, Write
from bot.steps.canary.objects import Obj

STRATEGIC_MERGE = "application/strategic-merge-patch+json"


def deployment_names(target: Target) -> tuple[list[str], str]:
    """Candidate stable Deployment names (first existing wins) and the canary Deployment's name."""
    cfg = target.settings
    if target.router == "replicas":
        return [target.stable.name], target.canary.name
    stables = (
        [cfg.stable_deployment]
        if cfg.stable_deployment
        else [target.app, f"{target.app}-stable", f"{target.app}-primary"]
    )
    return stables, cfg.canary_deployment or f"{target.app}-canary"


def _read(kube: KubeAccess, namespace: str, name: str) -> Obj | None:
    try:
        obj: Obj = kube.api_client.sanitize_for_serialization(
            kube.apps.read_namespaced_deployment(name, namespace, _request_timeout=kube.timeout)
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return obj


def _images(deployment: Obj) -> dict[str, str]:
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return {c["name"]: c.get("image", "") for c in containers}


def add_image_promotion(kube: KubeAccess, target: Target, proposal: Proposal) -> list[Permission]:
    """Append the stable Deployment's image update to ``proposal``; return the reads it needs."""
    stables, canary_name = deployment_names(target)
    ns = target.namespace
    canary = _read(kube, ns, canary_name)
    stable_name, stable = next(((n, d) for n in stables if (d := _read(kube, ns, n)) is not None), (stables[0], None))
    reads = [
        Permission(verb="get", resource="deployments", group="apps", namespace=ns, name=n)
        for n in (stable_name, canary_name)
    ]
    if canary is None or stable is None:
        missing = canary_name if canary is None else " / ".join(stables)
        raise UserError(
            f"promote_image is configured for {target.app} but deployment {missing} does not exist in {ns}",
            hint=f"set canary.apps.{target.app}.stable_deployment / canary_deployment",
        )
    old, new = _images(stable), _images(canary)
    changes = {name: new[name] for name in old if name in new and new[name] != old[name]}
    if not changes:
        proposal.details.append(f"deployment {stable_name} already runs the canary's images")
        return reads
    proposal.details += [
        f"deployment {stable_name} container {n}: image {old[n]} → {img}" for n, img in changes.items()
    ]
    proposal.warnings.append(
        f"deployment {stable_name} rolls out the new images while taking no traffic; "
        f"send traffic back with `canary {target.app} 100/0` once it is ready"
    )
    body = {"spec": {"template": {"spec": {"containers": [{"name": n, "image": img} for n, img in changes.items()]}}}}
    proposal.writes.append(
        Write(
            what=f"the new images of deployment {ns}/{stable_name}",
            submit=lambda k, dry: k.apps.patch_namespaced_deployment(
                stable_name,
                ns,
                body,
                _content_type=STRATEGIC_MERGE,
                _request_timeout=k.timeout,
                **({"dry_run": dry} if dry else {}),
            ),
            permissions=[
                Permission(verb="patch", resource="deployments", group="apps", namespace=ns, name=stable_name)
            ],
            target=ObjectRef(kind="Deployment", name=stable_name, namespace=ns),
        )
    )
    return reads
