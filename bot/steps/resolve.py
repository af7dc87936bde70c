"""Resolve typed parameters against a cluster; unknown names come back with the closest matches."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from kubernetes.client.exceptions import ApiException

from bot.clients.api_errors import explain_api_error
from bot.clients.kube import KubeAccess
from bot.errors import DeniedError, NotFoundError, UserError
from bot.model import WorkloadRef


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates closest to ``name`` (then substring matches)."""
    pool = list(candidates)
    found = difflib.get_close_matches(name, pool, n=n, cutoff=0.6)
    for cand in pool:
        if len(found) >= n:
            break
        if (name in cand or cand in name) and cand not in found:
            found.append(cand)
    return found


class KubeResolver:
    """Checks that named objects exist, as the requester sees them (``kube`` impersonates)."""

    def __init__(self, kube: KubeAccess) -> None:
        self._kube = kube

    def node(self, name: str) -> str:
        """The node's name, or NotFoundError with the closest node names."""
        if self._exists(lambda: self._kube.core.read_node(name, _request_timeout=self._kube.timeout)):
            return name
        names = [n["metadata"]["name"] for n in self._kube.list_raw(self._kube.core.list_node)]
        raise NotFoundError("node", name, closest(name, names), where=f"on cluster {self._kube.cluster}")

    def namespace(self, name: str) -> str:
        """The namespace's name, or NotFoundError with the closest namespaces."""
        if self._exists(lambda: self._kube.core.read_namespace(name, _request_timeout=self._kube.timeout)):
            return name
        names = [n["metadata"]["name"] for n in self._kube.list_raw(self._kube.core.list_namespace)]
        raise NotFoundError("namespace", name, closest(name, names), where=f"on cluster {self._kube.cluster}")

    def pod(self, namespace: str, name: str) -> str:
        """The pod's name, or NotFoundError with the closest pods of the namespace."""
        core = self._kube.core
        if self._exists(lambda: core.read_namespaced_pod(name, namespace, _request_timeout=self._kube.timeout)):
            return name
        names = [p["metadata"]["name"] for p in self._kube.list_raw(core.list_namespaced_pod, namespace=namespace)]
        raise NotFoundError("pod", name, closest(name, names), where=f"in namespace {namespace}")

    def workload(self, namespace: str, kind: str | None, name: str) -> WorkloadRef:
        """The Deployment/StatefulSet/DaemonSet called ``name`` (kind optional when unambiguous)."""
        apps = self._kube.apps
        readers = {
            "Deployment": (apps.read_namespaced_deployment, apps.list_namespaced_deployment),
            "StatefulSet": (apps.read_namespaced_stateful_set, apps.list_namespaced_stateful_set),
            "DaemonSet": (apps.read_namespaced_daemon_set, apps.list_namespaced_daemon_set),
        }
        kinds = [kind] if kind else list(readers)
        found = [
            k
            for k in kinds
            if self._exists(lambda k=k: readers[k][0](name, namespace, _request_timeout=self._kube.timeout))
        ]
        if len(found) == 1:
            return WorkloadRef(kind=found[0], name=name, namespace=namespace)
        if len(found) > 1:
            options = ", ".join(f"`{k.lower()}/{name}`" for k in found)
            raise UserError(
                f"`{name}` names more than one workload in namespace {namespace}", hint=f"say which: {options}"
            )
        names = []
        for k in kinds:
            names += [
                f"{k.lower()}/{o['metadata']['name']}" if not kind else o["metadata"]["name"]
                for o in self._kube.list_raw(readers[k][1], namespace=namespace)
            ]
        suggestions = closest(name, names) or closest(name, [n.split("/")[-1] for n in names])
        label = (kind or "workload").lower()
        raise NotFoundError(label, name, suggestions, where=f"in namespace {namespace}")

    def _exists(self, read: object) -> bool:
        try:
            read()  # type: ignore[operator]
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            if exc.status == 403:
                raise DeniedError(explain_api_error(exc)) from None
            raise
