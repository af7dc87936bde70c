"""Wait for a PodDisruptionBudget to allow a disruption — woken by a watch, not a blind timer.

kubectl retries a 429 every 5 seconds. Here each namespace's PDBs are watched; an eviction that
got 429 waits until a PDB covering its pod reports ``disruptionsAllowed > 0`` (a replacement pod
became Ready), then retries at once. A slow safety poll covers a dropped watch; a broken watch
reconnects with backoff and re-lists first (``RetryPolicy.keep_watching``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from bot.clients.kube import KubeAccess
from bot.clients.retry import bounded_by
from bot.steps.drain_filters import Obj, selector_matches

log = logging.getLogger("bot.drain")
SAFETY_POLL_SECONDS = 10.0


class PdbGate:
    """Current PDB state of some namespaces, kept fresh by one watch per namespace."""

    def __init__(self, kube: KubeAccess, namespaces: set[str], stop: threading.Event) -> None:
        self._kube = kube
        self._policy = client.PolicyV1Api(kube.api_client)
        self._stop = stop
        self._cond = threading.Condition()
        self._pdbs: dict[tuple[str, str], Obj] = {}
        self._threads: list[threading.Thread] = []
        for ns in sorted(namespaces):
            rv = self._load(ns)
            t = threading.Thread(target=self._watch, args=(ns, rv), name=f"pdb-watch-{ns}", daemon=True)
            t.start()
            self._threads.append(t)

    def _load(self, namespace: str) -> str:
        resp = self._policy.list_namespaced_pod_disruption_budget(
            namespace, _preload_content=False, _request_timeout=self._kube.timeout
        )
        body = json.loads(resp.data)
        with self._cond:
            for key in [k for k in self._pdbs if k[0] == namespace]:
                del self._pdbs[key]
            for item in body.get("items") or []:
                self._pdbs[(namespace, item["metadata"]["name"])] = item
            self._cond.notify_all()
        return str(body.get("metadata", {}).get("resourceVersion", ""))

    def _watch(self, namespace: str, rv: str) -> None:
        """Keep this namespace's PDBs fresh; after a broken connection, re-list first (then watch from there)
        so a PDB that began to allow disruptions while the connection was down is seen at once."""
        last = [rv]

        def session(after_failure: bool) -> None:
            if after_failure:
                last[0] = self._load(namespace)
            last[0] = self._stream(namespace, last[0])

        with bounded_by(abort=self._stop):  # nested re-lists stop retrying when the drain ends
            self._kube.retry.keep_watching(session, what=f"PDB watch in {namespace}", stop=self._stop)

    def _stream(self, namespace: str, rv: str) -> str:
        """Apply events until the server closes the window (30 s); returns the last resourceVersion."""
        w = watch.Watch()
        try:
            for event in w.stream(
                self._policy.list_namespaced_pod_disruption_budget,
                namespace,
                resource_version=rv,
                timeout_seconds=30,
                _request_timeout=60,
            ):
                if self._stop.is_set():
                    break
                obj = self._policy.api_client.sanitize_for_serialization(event["object"])
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                key = (namespace, obj["metadata"]["name"])
                with self._cond:
                    if event["type"] == "DELETED":
                        self._pdbs.pop(key, None)
                    else:
                        self._pdbs[key] = obj
                    self._cond.notify_all()
        except ApiException as exc:
            if exc.status == 410:  # our resourceVersion is too old: list again
                return self._load(namespace)
            raise
        finally:
            w.stop()
        return rv

    def covering(self, pod: Obj) -> list[Obj]:
        """The PDBs whose selector matches ``pod``."""
        ns = pod["metadata"].get("namespace", "")
        labels = pod["metadata"].get("labels") or {}
        with self._cond:
            return [
                p
                for (n, _), p in self._pdbs.items()
                if n == ns and selector_matches(p.get("spec", {}).get("selector"), labels)
            ]

    def allowed(self, pdb: Obj) -> int:
        """``status.disruptionsAllowed`` as last seen."""
        return int((pdb.get("status") or {}).get("disruptionsAllowed", 0) or 0)

    def wait_for_disruption(self, pod: Obj, deadline: float) -> None:
        """Block until a PDB covering ``pod`` allows a disruption, the deadline, or stop."""
        with self._cond:
            while not self._stop.is_set():
                pdbs = self.covering(pod)
                if not pdbs or any(self.allowed(p) > 0 for p in pdbs):
                    return
                left = min(deadline - time.monotonic(), SAFETY_POLL_SECONDS)
                if left <= 0:
                    return
                if not self._cond.wait(left):
                    return  # safety poll: let the caller retry the eviction anyway

    def wake(self) -> None:
        """Wake every waiter (used on abort)."""
        with self._cond:
            self._cond.notify_all()

    def describe(self, pdb: Obj) -> str:
        """``ns/name (allows N)``."""
        return f"{pdb['metadata'].get('namespace')}/{pdb['metadata']['name']} (allows {self.allowed(pdb)})"


def pdbs_snapshot(kube: KubeAccess, namespaces: set[str]) -> list[Obj]:
    """Every PDB of ``namespaces`` (for planning)."""
    policy = client.PolicyV1Api(kube.api_client)
    out: list[Any] = []
    for ns in sorted(namespaces):
        out += kube.list_raw(policy.list_namespaced_pod_disruption_budget, namespace=ns)
    return out
