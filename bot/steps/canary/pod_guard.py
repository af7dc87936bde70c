"""The guard of a canary progression: the canary's pods, watched, and what would make it roll back.

Which pods are the canary's: the configured ``canary_deployment``'s selector; else the canary
Service's selector (routers whose canary backend is a Service); else the Deployment
``<app>-canary``. A progression that cannot tell is refused at plan time, with the setting to add.

``PodGuard`` keeps them with one ``ListWatch`` (server-side filtered by the selector's
``matchLabels``, then matched exactly) and answers ``trouble()``: a container waiting in
CrashLoopBackOff / ImagePullBackOff / ErrImagePull or terminated in Error, a restart count above the
one stored when the progression began (a pod created since counts from 0), or a pod unready for
longer than ``canary.unready_after``. Pods being deleted are left out (a rollout replaces them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from bot.clients.kube import KubeAccess
from bot.clients.watch import ListWatch, Obj
from bot.durations import seconds_text
from bot.errors import UserError
from bot.model import Permission
from bot.selectors import label_selector_matches
from bot.steps.canary.driver import Target

WAITING_TROUBLE = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"})
TERMINATED_TROUBLE = frozenset({"Error"})


@dataclass(frozen=True)
class CanaryPods:
    """The canary's pods: a namespace and a LabelSelector (JSON), and where the selector came from."""

    namespace: str
    selector: dict[str, Any]
    source: str  # "service web-canary", "deployment web-canary"

    def label_query(self) -> str:
        """The ``matchLabels`` as a server-side label selector (``app=web,track=canary``)."""
        return ",".join(f"{k}={v}" for k, v in sorted((self.selector.get("matchLabels") or {}).items()))

    def describe(self) -> str:
        """``pods selected by service web-canary (app=web-canary)``."""
        return f"pods selected by {self.source} ({self.label_query() or 'expressions'})"

    def matches(self, pod: Obj) -> bool:
        """Does the selector select ``pod``?"""
        labels = (pod.get("metadata") or {}).get("labels") or {}
        return label_selector_matches(self.selector, labels)

    def permissions(self) -> list[Permission]:
        """list and watch pods in the namespace (the guard's ListWatch, as the requester)."""
        return [Permission(verb=v, resource="pods", namespace=self.namespace) for v in ("list", "watch")]


def _read(call: Callable[[], Any]) -> Any | None:
    try:
        return call()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _deployment_selector(kube: KubeAccess, namespace: str, name: str) -> dict[str, Any] | None:
    found = _read(lambda: kube.apps.read_namespaced_deployment(name, namespace, _request_timeout=kube.timeout))
    if found is None:
        return None
    selector: dict[str, Any] = kube.api_client.sanitize_for_serialization(found.spec.selector) or {}
    return selector


def _service_selector(kube: KubeAccess, namespace: str, name: str) -> dict[str, Any] | None:
    found = _read(lambda: kube.core.read_namespaced_service(name, namespace, _request_timeout=kube.timeout))
    if found is None or not (found.spec and found.spec.selector):
        return None
    return {"matchLabels": dict(found.spec.selector)}


def find_canary_pods(kube: KubeAccess, target: Target) -> tuple[CanaryPods, list[Permission]]:
    """Where the canary's pods are, and the reads that found them; UserError when it cannot be told."""
    ns, cfg = target.namespace, target.settings
    reads: list[Permission] = []

    def deployment(name: str) -> CanaryPods | None:
        reads.append(Permission(verb="get", resource="deployments", group="apps", namespace=ns, name=name))
        selector = _deployment_selector(kube, ns, name)
        return CanaryPods(ns, selector, f"deployment {name}") if selector else None

    def service(name: str) -> CanaryPods | None:
        reads.append(Permission(verb="get", resource="services", namespace=ns, name=name))
        selector = _service_selector(kube, ns, name)
        return CanaryPods(ns, selector, f"service {name}") if selector else None

    tries: list[Callable[[], CanaryPods | None]]
    if target.router == "replicas":
        tries = [lambda: deployment(target.canary.name)]
    elif cfg.canary_deployment:
        tries = [lambda: deployment(str(cfg.canary_deployment))]
    else:
        tries = [lambda: deployment(f"{target.app}-canary")]
        if target.canary.subset is None:  # a Service of its own (an Istio subset shares the stable's host)
            tries.insert(0, lambda: service(target.canary.name))
    found = next((pods for attempt in tries if (pods := attempt()) is not None), None)
    if found is None:
        raise UserError(
            f"cannot tell which pods are {target.app}'s canary, so a progression could not watch them",
            hint=f"name the canary's Deployment in the configuration: canary.apps.{target.app}.canary_deployment",
        )
    return found, reads


def restarts(pod: Obj) -> int:
    """The pod's restarts: the sum over its containers (init containers included)."""
    status = pod.get("status") or {}
    statuses = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
    return sum(int(c.get("restartCount") or 0) for c in statuses)


def is_ready(pod: Obj) -> bool:
    """Is the pod's Ready condition True?"""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _bad_state(pod: Obj) -> str | None:
    status = pod.get("status") or {}
    for container in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        state = container.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        if waiting in WAITING_TROUBLE:
            return str(waiting)
        terminated = (state.get("terminated") or {}).get("reason")
        if terminated in TERMINATED_TROUBLE:
            return str(terminated)
    return None


def pod_trouble(pod: Obj, baseline: dict[str, int], unready_for: float, unready_after: float) -> str | None:
    """Why this canary pod calls for a rollback, or None. ``unready_for``: seconds it has been seen unready."""
    meta = pod.get("metadata") or {}
    name, uid = meta.get("name", "?"), meta.get("uid", "")
    count = restarts(pod)
    bad = _bad_state(pod)
    if bad:
        return f"pod {name} is {bad} (restarts {count})"
    before = baseline.get(uid, 0)
    if count > before:
        return f"pod {name} restarted (restarts {before} → {count})"
    if unready_for > unready_after:
        return f"pod {name} has been unready for {seconds_text(unready_for)}"
    return None


class PodGuard:
    """Watches the canary's pods; ``trouble()`` says why to roll back (None: all is well)."""

    def __init__(
        self,
        kube: KubeAccess,
        pods: CanaryPods,
        unready_after: float,
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pods = pods
        self._kube = kube
        self._unready_after = unready_after
        self._now = now
        self._stop = threading.Event()
        self._unready_since: dict[str, float] = {}
        self._watch: ListWatch | None = None

    def start(self) -> PodGuard:
        """List the pods (errors propagate) and keep watching them in a thread."""
        extra = {"label_selector": self.pods.label_query()} if self.pods.label_query() else {}
        self._watch = ListWatch(
            self._kube,
            self._kube.core.list_namespaced_pod,
            self.pods.namespace,
            stop=self._stop,
            name=f"canary-pods-{self.pods.namespace}",
            **extra,
        ).start()
        return self

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._watch is not None:
            self._watch.close()

    def current(self) -> list[Obj]:
        """The canary's pods now, without those being deleted."""
        assert self._watch is not None, "start() first"
        return [
            p
            for p in self._watch.objects()
            if self.pods.matches(p) and not (p.get("metadata") or {}).get("deletionTimestamp")
        ]

    def restart_counts(self) -> dict[str, int]:
        """Every current canary pod's restarts by UID (the baseline stored when a progression begins)."""
        return {p["metadata"]["uid"]: restarts(p) for p in self.current()}

    def trouble(self, baseline: dict[str, int]) -> str | None:
        """The first reason to roll back found among the canary's pods, or None."""
        now = self._now()
        pods = self.current()
        self._unready_since = {uid: t for uid, t in self._unready_since.items() if uid in _uids(pods)}
        for pod in sorted(pods, key=lambda p: p["metadata"].get("name", "")):
            uid = pod["metadata"]["uid"]
            if is_ready(pod):
                self._unready_since.pop(uid, None)
                unready_for = 0.0
            else:
                unready_for = now - self._unready_since.setdefault(uid, now)
            reason = pod_trouble(pod, baseline, unready_for, self._unready_after)
            if reason:
                return reason
        return None


def _uids(pods: list[Obj]) -> set[str]:
    return {p["metadata"]["uid"] for p in pods}
