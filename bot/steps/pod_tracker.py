"""Know when pods are gone (404 or UID changed) from one watch of a node's pods, not per-pod polling."""

from __future__ import annotations

import json
import logging
import threading
import time

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from bot.clients.kube import KubeAccess
from bot.clients.retry import bounded_by, describe

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
        with bounded_by(abort=self._stop):  # a re-list retrying through an outage ends with the drain
            while not self._stop.wait(RELIST_SECONDS):
                try:
                    self._relist()
                except Exception as exc:  # the watch still runs; the next round lists again
                    log.info("pod re-list failed", extra={"error": describe(exc)})

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
        """Follow the node's pods; after a broken connection, re-list first, then watch from there."""
        last = [rv]

        def session(after_failure: bool) -> None:
            if after_failure:
                last[0] = self._relist()
            last[0] = self._stream(last[0])

        with bounded_by(abort=self._stop):  # nested re-lists stop retrying when the drain ends
            self._kube.retry.keep_watching(session, what=f"pod watch on {self._selector}", stop=self._stop)

    def _stream(self, rv: str) -> str:
        """Apply events until the server closes the window; returns the last resourceVersion."""
        core = self._kube.core
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
        except ApiException as exc:
            if exc.status == 410:  # our resourceVersion is too old: list again
                return self._relist()
            raise
        finally:
            w.stop()
        return rv

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
