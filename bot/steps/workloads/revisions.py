"""A Deployment's revisions: its ReplicaSets, numbered by ``deployment.kubernetes.io/revision``."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clients.kube import KubeAccess
from bot.steps.workloads.objects import Obj, images

REVISION = "deployment.kubernetes.io/revision"


@dataclass(frozen=True)
class Revision:
    """One ReplicaSet of a Deployment."""

    number: int
    replicaset: Obj

    @property
    def name(self) -> str:
        """The ReplicaSet's name."""
        return str(self.replicaset["metadata"]["name"])

    @property
    def images(self) -> str:
        """``container=image`` of its pod template."""
        return images(self.replicaset)

    @property
    def pods(self) -> str:
        """``ready/desired`` pods."""
        status = self.replicaset.get("status") or {}
        desired = (self.replicaset.get("spec") or {}).get("replicas") or 0
        return f"{status.get('readyReplicas') or 0}/{desired}"


def revisions(kube: KubeAccess, deployment: Obj) -> list[Revision]:
    """The Deployment's ReplicaSets (owned by its UID), newest revision first."""
    uid = deployment["metadata"]["uid"]
    ns = deployment["metadata"]["namespace"]
    out = []
    for rs in kube.list_raw(kube.apps.list_namespaced_replica_set, namespace=ns):
        owners = (rs.get("metadata") or {}).get("ownerReferences") or []
        if not any(o.get("uid") == uid and o.get("controller") for o in owners):
            continue
        number = ((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION)
        if number is not None and str(number).isdigit():
            out.append(Revision(int(number), rs))
    return sorted(out, key=lambda r: r.number, reverse=True)


def current_revision(deployment: Obj) -> int | None:
    """The revision the Deployment says it is at."""
    value = ((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    return int(value) if value is not None and str(value).isdigit() else None


def revision_table(kube: KubeAccess, deployment: Obj) -> tuple[list[str], list[list[str]]]:
    """Columns and rows for a report: revision (current marked), ReplicaSet, pods, images."""
    current = current_revision(deployment)
    rows = [
        [f"{r.number}{' (current)' if r.number == current else ''}", r.name, r.pods, r.images]
        for r in revisions(kube, deployment)
    ]
    return ["Revision", "ReplicaSet", "Pods", "Images"], rows
