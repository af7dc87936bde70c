"""Know when pods are gone (404 or UID changed) from one watch of a node's pods, not per-pod polling."""

from __future__ import annotations

import json
import logging
import threading
import time

from kubernetes import watch

from bot.clients.kube import KubeAccess

log = logging.getLogger("bot.drain")
RELIST_SECONDS = 3.0


class GoneTracker:
    """Tracks pod UIDs on a node; a UID is gone when a DELETED event names it or a re-list lacks it."""

    def __init__(self, kube: KubeAccess, node: str, stop: threading.Event) -> None:
        self._kube = kube
        self._selector = f"spec.nodeName={node}"
        self._stop = stop
        self._cond = threading.Condition()
        self._present: set[str] = set()
        rv = self._relist()
        self._thread = threading.Thread(target=self._watch, args=(rv,), name=f"pods-{node}", daemon=True)
        self._thread.start()
        self._relister = threading.Thread(target=self._relist_loop, name=f"pods-relist-{node}", daemon=True)
        self._relister.start()

    def _relist_loop(self) -> None:
        """A slow safety net under the watch: one re-list every few seconds, shared by all waiters."""
        while not self._stop.wait(RELIST_SECONDS):
            try:
                self._relist()
            except Exception as exc:
                log.info("pod re-list failed", extra={"error": type(exc).__name__})

    def _relist(self) -> str:
        core = self._kube.core
        resp = core.list_pod_for_all_namespaces(
            field_selector=self._selector, _preload_content=False, _request_timeout=self._kube.timeout
        )
        body = json.loads(resp.data)
        with self._cond:
            self._present = {p["metadata"]["uid"] for p in body.get("items") or []}
            self._cond.notify_all()
        return str(body.get("metadata", {}).get("resourceVersion", ""))

    def _watch(self, rv: str) -> None:
        core = self._kube.core
        while not self._stop.is_set():
            w = watch.Watch()
            try:
                for event in w.stream(
                    core.list_pod_for_all_namespaces,
                    field_selector=self._selector,
                    resource_version=rv,
                    timeout_seconds=int(RELIST_SECONDS * 10),
                    _request_timeout=60,
                ):
                    obj = event["object"]
                    rv = obj.metadata.resource_version or rv
                    with self._cond:
                        if event["type"] == "DELETED":
                            self._present.discard(obj.metadata.uid)
                        else:
                            self._present.add(obj.metadata.uid)
                        self._cond.notify_all()
                    if self._stop.is_set():
                        break
            except Exception as exc:
                log.info("pod watch restarted", extra={"error": type(exc).__name__})
                if self._stop.wait(0.5):
                    return
                try:
                    rv = self._relist()
                except Exception as again:
                    log.info("re-list failed; retrying", extra={"error": type(again).__name__})
                    continue
            finally:
                w.stop()

    def gone(self, uid: str) -> bool:
        """True once ``uid`` no longer exists on the node."""
        with self._cond:
            return uid not in self._present

    def wait_gone(self, uid: str, deadline: float) -> bool:
        """Block until ``uid`` is gone, the deadline passes or stop is set; True when gone."""
        with self._cond:
            while uid in self._present:
                left = deadline - time.monotonic()
                if self._stop.is_set() or left <= 0:
                    return False
                self._cond.wait(min(left, 1.0))
            return True

    def wake(self) -> None:
        """Wake every waiter (used on abort)."""
        with self._cond:
            self._cond.notify_all()
