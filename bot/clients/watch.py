"""One list+watch cache for every watcher: list, watch from the list's resourceVersion, re-list.

``ListWatch`` keeps the objects of one list call (a namespace's PDBs, a node's pods, all Nodes)
as plain JSON, keyed by UID, and wakes waiters whenever they change. It follows the API
server's protocol as client-go's reflector does:

- list (paginated) → remember ``metadata.resourceVersion``;
- watch from it with bookmarks (``allowWatchBookmarks``), applying ADDED / MODIFIED / DELETED
  and moving the resourceVersion forward on every event, bookmarks included;
- a watch that ends (server timeout, closed connection) resumes from the last resourceVersion —
  nothing is missed, because the server replays every change since then;
- ``410 Gone`` (the resourceVersion is too old) or an ERROR event → re-list, replacing the cache,
  so a change made while the watch was broken (a PDB that began to allow disruptions) is seen;
- a failed connection is retried with capped exponential backoff until ``stop`` is set.

Objects stay raw JSON (no generated model classes): cheaper, and what the callers inspect.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException

from bot.clients.kube import KubeAccess

log = logging.getLogger("bot.watch")
Obj = dict[str, Any]
WATCH_WINDOW_SECONDS = 30
BACKOFF_FIRST = 0.2
BACKOFF_MAX = 5.0


class _Gone(Exception):
    """The watch's resourceVersion is too old (410) or the server sent an ERROR event."""


class ListWatch:
    """A live cache of one list call's objects. Start it, read ``objects()``, wait with ``wait_until``.

    ``list_call`` is a generated client list method (``core.list_node``,
    ``policy.list_namespaced_pod_disruption_budget``...) and ``args``/``kwargs`` its arguments
    (namespace, field or label selector). ``stop`` ends the watch thread; ``name`` labels its logs.
    """

    def __init__(
        self,
        kube: KubeAccess,
        list_call: Callable[..., Any],
        *args: Any,
        stop: threading.Event,
        name: str,
        **kwargs: Any,
    ) -> None:
        self._kube = kube
        self._call = list_call
        self._args = args
        self._kwargs = kwargs
        self._stop = stop
        self._name = name
        self._cond = threading.Condition()
        self._objects: dict[str, Obj] = {}
        self._rv = ""
        self._thread: threading.Thread | None = None
        self.relists = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> ListWatch:
        """List once (errors propagate to the caller), then keep the cache fresh in a thread."""
        self._relist()
        self._thread = threading.Thread(target=self._run, name=f"watch-{self._name}", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Wake every waiter (used when ``stop`` is set or a deadline moves)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        """Stop watching (``stop`` must be set): waiters return now; the watch thread ends with its window.

        The open watch response is not closed from here: closing a TLS stream another thread is
        reading blocks until that read returns. The thread notices ``stop`` at the next event or
        when the server ends the window (``WATCH_WINDOW_SECONDS``), whichever comes first.
        """
        self.wake()

    # -- reading ----------------------------------------------------------------------------------
    def objects(self) -> list[Obj]:
        """A snapshot of the cached objects."""
        with self._cond:
            return list(self._objects.values())

    def has_uid(self, uid: str) -> bool:
        """Is an object with this UID in the cache?"""
        with self._cond:
            return uid in self._objects

    def wait_until(self, predicate: Callable[[], bool], deadline: float) -> bool:
        """Block until ``predicate()`` holds (True), or the monotonic ``deadline`` / stop (False).

        The predicate runs under the cache's (re-entrant) lock, so it may call ``objects``/``has_uid``.
        """
        with self._cond:
            while True:
                if predicate():
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._cond.wait(min(left, 1.0))

    # -- the protocol -------------------------------------------------------------------------
    def _relist(self) -> None:
        objects: dict[str, Obj] = {}
        token: str | None = None
        rv = ""
        while True:
            resp = self._call(
                *self._args,
                limit=500,
                _continue=token,
                _preload_content=False,
                _request_timeout=self._kube.timeout,
                **self._kwargs,
            )
            body = json.loads(resp.data)
            for item in body.get("items") or []:
                objects[item["metadata"]["uid"]] = item
            meta = body.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or rv)
            token = meta.get("continue")
            if not token:
                break
        with self._cond:
            self._objects = objects
            self._rv = rv
            self.relists += 1
            self._cond.notify_all()

    def _run(self) -> None:
        failures = 0
        needs_list = False
        while not self._stop.is_set():
            try:
                if needs_list:
                    self._relist()
                    needs_list = False
                self._watch_once()
                failures = 0
            except _Gone:
                needs_list = True
                failures = 0
            except Exception as exc:  # noqa: BLE001 - any transport or API failure: back off, then re-list
                if self._stop.is_set():
                    return
                failures += 1
                needs_list = True
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(failures, 8)) * random.uniform(0.5, 1.0)  # noqa: S311
                log.info(
                    "watch interrupted; retrying",
                    extra={"watch": self._name, "error": type(exc).__name__, "retry_in": round(delay, 2)},
                )
                if self._stop.wait(delay):
                    return

    def _watch_once(self) -> None:
        resp = self._call(
            *self._args,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=self._rv,
            timeout_seconds=WATCH_WINDOW_SECONDS,
            _preload_content=False,
            _request_timeout=(self._kube.timeout, WATCH_WINDOW_SECONDS + self._kube.timeout),
            **self._kwargs,
        )
        try:
            for event in _events(resp):
                if self._stop.is_set():
                    return
                self._apply(event)
        except ApiException as exc:
            if exc.status == 410:
                raise _Gone from None
            raise
        finally:
            resp.release_conn()

    def _apply(self, event: Obj) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            raise _Gone
        meta = obj.get("metadata") or {}
        with self._cond:
            self._rv = str(meta.get("resourceVersion") or self._rv)
            if kind == "DELETED":
                self._objects.pop(meta.get("uid", ""), None)
            elif kind in ("ADDED", "MODIFIED"):
                self._objects[meta["uid"]] = obj
            else:  # BOOKMARK: only the resourceVersion moves
                return
            self._cond.notify_all()


def _events(resp: Any) -> Iterator[Obj]:
    """Decode a watch response (one JSON object per line) as the bytes arrive."""
    pending = b""
    for chunk in resp.stream(amt=None, decode_content=True):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
    if pending.strip():
        yield json.loads(pending)
