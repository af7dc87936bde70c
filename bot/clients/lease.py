"""Leader election on a coordination.k8s.io/v1 Lease (client-go's algorithm), so one replica posts.

Safety comes from three durations (``lease_duration`` > ``renew_deadline`` > ``retry_period``):

- a candidate takes the lease only when its record has not changed for ``lease_duration`` *as
  measured on the candidate's own monotonic clock* since it last saw it change (so clock skew
  between replicas does not matter);
- the leader renews every ``retry_period``; if it cannot renew for ``renew_deadline`` it stops
  leading — before any other replica may take over;
- every write carries the ``resourceVersion`` it read, so two candidates racing cannot both win.

A leader that dies is replaced within ``lease_duration + retry_period``; one that stops cleanly
releases the lease and is replaced within ``retry_period``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from bot.clients.cluster_access import failure_line
from bot.clients.kube import KubeAccess
from bot.clients.retry import bounded_by
from bot.errors import ClusterUnavailableError

log = logging.getLogger("bot.leader")
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def default_identity() -> str:
    """``$POD_NAME`` (or the host name) plus a random suffix: unique per process."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def default_namespace(in_cluster: bool) -> str:
    """The pod's own namespace when running in a cluster, else ``default``."""
    if in_cluster:
        try:
            return NAMESPACE_FILE.read_text().strip() or "default"
        except OSError:
            pass
    return "default"


@dataclass(frozen=True)
class LeaseRecord:
    """The fields of a Lease that leader election reads and writes."""

    holder: str
    duration_seconds: float
    acquire_time: str | None
    renew_time: str | None
    transitions: int
    resource_version: str = ""

    def body(self, namespace: str, name: str) -> dict[str, Any]:
        """The Lease object to send (with the resourceVersion read, for optimistic concurrency)."""
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if self.resource_version:
            meta["resourceVersion"] = self.resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": self.holder,
                "leaseDurationSeconds": max(1, round(self.duration_seconds)),
                "acquireTime": self.acquire_time,
                "renewTime": self.renew_time,
                "leaseTransitions": self.transitions,
            },
        }


class LeaseLock:
    """Reads and writes one Lease with the bot's own credentials (raw JSON)."""

    def __init__(self, kube: KubeAccess, namespace: str, name: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name

    @property
    def _api(self) -> client.CoordinationV1Api:
        # Built at first use, so a cluster that cannot be loaded fails an election round, not start-up.
        return client.CoordinationV1Api(self.kube.api_client)

    def describe(self) -> str:
        """``lease ns/name on cluster``."""
        return f"lease {self.namespace}/{self.name} on cluster {self.kube.cluster}"

    def get(self) -> LeaseRecord | None:
        """The current record, or None when the Lease does not exist."""
        return self._call(404, self._api.read_namespaced_lease, self.name, self.namespace)

    def create(self, rec: LeaseRecord) -> LeaseRecord | None:
        """Create the Lease and return it as stored; None when another replica created it first."""
        return self._call(409, self._api.create_namespaced_lease, self.namespace, rec.body(self.namespace, self.name))

    def update(self, rec: LeaseRecord) -> LeaseRecord | None:
        """Replace the Lease if it is still at ``rec.resource_version``; None on a conflict."""
        return self._call(
            409, self._api.replace_namespaced_lease, self.name, self.namespace, rec.body(self.namespace, self.name)
        )

    def _call(self, none_on: int, method: Any, *args: Any) -> LeaseRecord | None:
        """Call the API; the expected status ``none_on`` (absent / conflict) becomes None."""
        try:
            resp = method(*args, _preload_content=False, _request_timeout=self.kube.timeout)
        except ApiException as exc:
            if exc.status == none_on:
                return None
            raise
        return _record(json.loads(resp.data))


def _record(obj: dict[str, Any]) -> LeaseRecord:
    spec = obj.get("spec") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or "",
        duration_seconds=float(spec.get("leaseDurationSeconds") or 0),
        acquire_time=spec.get("acquireTime"),
        renew_time=spec.get("renewTime"),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str((obj.get("metadata") or {}).get("resourceVersion", "")),
    )


def _micro(now: datetime) -> str:
    return now.astimezone(UTC).strftime(MICRO_TIME)


class LeaderElector:
    """Campaigns for a Lease; ``step()`` is one attempt, ``start()`` runs attempts in a thread.

    ``on_started`` / ``on_stopped`` are called (from the elector's thread) when leadership is
    gained / lost. ``monotonic`` and ``wall`` are injectable so tests can move time.
    """

    def __init__(
        self,
        lock: LeaseLock,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started: Callable[[], None] = lambda: None,
        on_stopped: Callable[[], None] = lambda: None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError("need retry_period < renew_deadline < lease_duration")
        self.lock = lock
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started = on_started
        self.on_stopped = on_stopped
        self._mono = monotonic
        self._wall = wall
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._last_renew = 0.0
        self._leader = False
        self._failing: str | None = None  # the cause of the failing rounds, told once
        self._reached = False  # the lease was read or written at least once
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- state -----------------------------------------------------------------------------------
    def is_leader(self) -> bool:
        """True while this replica holds the lease (and renewed it within the renew deadline)."""
        with self._state_lock:
            return self._leader and self._mono() - self._last_renew <= self.renew_deadline

    @property
    def observed_holder(self) -> str:
        """The holder in the last record seen ('' when none)."""
        return self._observed.holder if self._observed else ""

    def _observe(self, rec: LeaseRecord) -> None:
        if self._observed is None or rec.resource_version != self._observed.resource_version:
            self._observed = rec
            self._observed_at = self._mono()

    # -- one attempt -----------------------------------------------------------------------------
    def try_acquire_or_renew(self) -> bool:
        """Take or renew the lease once; True when this replica holds it afterwards."""
        now = _micro(self._wall())
        current = self.lock.get()
        if current is None:
            created = self.lock.create(LeaseRecord(self.identity, self.lease_duration, now, now, 0))
            if created is None:
                return False
            self._observe(created)
            return True
        self._observe(current)
        held_by_other = current.holder not in ("", self.identity)
        if held_by_other and self._observed_at + current.duration_seconds > self._mono():
            return False
        if current.holder == self.identity:
            new = replace(current, duration_seconds=self.lease_duration, renew_time=now)
        else:
            new = LeaseRecord(self.identity, self.lease_duration, now, now, current.transitions + 1)
            new = replace(new, resource_version=current.resource_version)
        stored = self.lock.update(new)
        if stored is None:
            return False
        self._observe(stored)
        return stored.holder == self.identity

    def step(self) -> bool:
        """One election round: attempt, then update leadership (calling the callbacks). Returns is_leader."""
        try:
            # Retried reads must not outlast a round: the next round is the election's own retry.
            with bounded_by(deadline=time.monotonic() + self.retry_period):
                ok = self.try_acquire_or_renew()
        except (ApiException, HTTPError, OSError, ClusterUnavailableError) as exc:
            self._tell_failure(exc)
            ok = False
        else:
            if self._failing is not None:
                log.info("leader election reaches its lease again", extra={"lease": self.lock.describe()})
            self._failing, self._reached = None, True
        started = stopped = False
        with self._state_lock:
            now = self._mono()
            if ok:
                self._last_renew = now
                if not self._leader:
                    self._leader = started = True
            elif self._leader:
                taken = self.observed_holder not in ("", self.identity)
                if taken or now - self._last_renew > self.renew_deadline:
                    self._leader = False
                    stopped = True
        if started:
            log.info("became leader", extra={"lease": self.lock.describe(), "identity": self.identity})
            self.on_started()
        if stopped:
            log.warning("lost leadership", extra={"lease": self.lock.describe(), "identity": self.identity})
            self.on_stopped()
        return self.is_leader()

    def _tell_failure(self, exc: BaseException) -> None:
        """Log a failed round once per cause: a warning once the lease had been reached, else info (``serve``
        already told the cluster's problem at start), never again every ``retry_period``."""
        text = failure_line(self.lock.kube.cluster, exc)
        if text == self._failing:
            return
        self._failing = text
        level = logging.WARNING if self._reached else logging.INFO
        log.log(level, "leader election cannot reach its lease", extra={"lease": self.lock.describe(), "error": text})

    def release(self) -> None:
        """Give the lease up (if held) so another replica takes over at its next attempt."""
        with self._state_lock:
            was_leader, self._leader = self._leader, False
        if not was_leader:
            return
        try:
            current = self.lock.get()
            if current is not None and current.holder == self.identity:
                now = _micro(self._wall())
                self.lock.update(LeaseRecord("", 1, now, now, current.transitions, current.resource_version))
        except (ApiException, HTTPError, OSError) as exc:
            log.warning("could not release the lease", extra={"lease": self.lock.describe(), "error": str(exc)})
        self.on_stopped()

    # -- background loop -------------------------------------------------------------------------
    def start(self) -> None:
        """Campaign in a daemon thread until ``stop()``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="leader-election", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.retry_period)

    def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; with ``release`` give the lease up (a clean shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lock.kube.timeout + self.retry_period)
            self._thread = None
        if release:
            self.release()
        else:
            with self._state_lock:
                was_leader, self._leader = self._leader, False
            if was_leader:
                self.on_stopped()
