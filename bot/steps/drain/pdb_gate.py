"""Wait for a PodDisruptionBudget to allow a disruption — woken by a watch, not a blind timer.

kubectl retries a 429 every 5 seconds. Here each namespace's PDBs are kept by a ``ListWatch``;
an eviction that got 429 waits until a PDB covering its pod reports ``disruptionsAllowed > 0``
(a replacement pod became Ready), then retries at once. A slow safety poll lets the caller retry
anyway, in case the API server's answer and the watched state disagree.
"""

from __future__ import annotations

import threading
import time

from kubernetes import client

from bot.clients.kube import KubeAccess
from bot.clients.watch import ListWatch, Obj
from bot.selectors import label_selector_matches

SAFETY_POLL_SECONDS = 10.0


class PdbGate:
    """Current PDB state of some namespaces, kept fresh by one list+watch per namespace."""

    def __init__(self, kube: KubeAccess, namespaces: set[str], stop: threading.Event) -> None:
        policy = client.PolicyV1Api(kube.api_client)
        self._stop = stop
        self._watches: dict[str, ListWatch] = {}
        for ns in sorted(namespaces):
            self._watches[ns] = ListWatch(
                kube, policy.list_namespaced_pod_disruption_budget, ns, stop=stop, name=f"pdbs-{ns}"
            ).start()

    def covering(self, pod: Obj) -> list[Obj]:
        """The PDBs whose selector matches ``pod``."""
        meta = pod["metadata"]
        watch = self._watches.get(meta.get("namespace", ""))
        if watch is None:
            return []
        labels = meta.get("labels") or {}
        return [p for p in watch.objects() if label_selector_matches((p.get("spec") or {}).get("selector"), labels)]

    @staticmethod
    def allowed(pdb: Obj) -> int:
        """``status.disruptionsAllowed`` as last seen."""
        return int((pdb.get("status") or {}).get("disruptionsAllowed", 0) or 0)

    def wait_for_disruption(self, pod: Obj, deadline: float) -> None:
        """Block until a PDB covering ``pod`` allows a disruption, the safety poll, the deadline, or stop."""
        watch = self._watches.get(pod["metadata"].get("namespace", ""))
        if watch is None:
            return

        def may_disrupt() -> bool:
            pdbs = self.covering(pod)
            return not pdbs or any(self.allowed(p) > 0 for p in pdbs)

        watch.wait_until(may_disrupt, min(deadline, time.monotonic() + SAFETY_POLL_SECONDS))

    def close(self) -> None:
        """Wake every waiter and stop watching (``stop`` must be set)."""
        for watch in self._watches.values():
            watch.close()


def pdbs_snapshot(kube: KubeAccess, namespaces: set[str]) -> list[Obj]:
    """Every PDB of ``namespaces`` (for planning)."""
    policy = client.PolicyV1Api(kube.api_client)
    out: list[Obj] = []
    for ns in sorted(namespaces):
        out += kube.list_raw(policy.list_namespaced_pod_disruption_budget, namespace=ns)
    return out
