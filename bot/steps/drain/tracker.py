"""Know when pods are gone (deleted, or their UID changed) from one list+watch of a node's pods."""

from __future__ import annotations

import threading

from bot.clients.kube import KubeAccess
from bot.clients.watch import ListWatch


class GoneTracker:
    """Tracks the pod UIDs on a node; a UID is gone once the node's pod list no longer holds it."""

    def __init__(self, kube: KubeAccess, node: str, stop: threading.Event) -> None:
        self._watch = ListWatch(
            kube,
            kube.core.list_pod_for_all_namespaces,
            stop=stop,
            name=f"pods-{node}",
            field_selector=f"spec.nodeName={node}",
        ).start()

    def gone(self, uid: str) -> bool:
        """True once ``uid`` no longer exists on the node."""
        return not self._watch.has_uid(uid)

    def wait_gone(self, uid: str, deadline: float) -> bool:
        """Block until ``uid`` is gone (True), or the monotonic deadline passes or stop is set (False)."""
        return self._watch.wait_until(lambda: self.gone(uid), deadline)

    def close(self) -> None:
        """Wake every waiter and stop watching (``stop`` must be set)."""
        self._watch.close()
