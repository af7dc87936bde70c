"""One pod's eviction, retried safely: never sent twice for a pod the first one already evicted.

An eviction is bound to the pod's UID (a precondition), so it cannot hit a replacement of the same
name; it may still be sent twice when a connection breaks after the server accepted it. So after
any failed attempt the pod is looked at (a fresh list of that one pod) before the eviction is sent
again: gone, replaced or already terminating means the earlier attempt took effect (or the pod left
anyway) and nothing is sent. A resend also carries the looked-at ``resourceVersion`` as a
precondition, which closes the race of an earlier attempt landing between the look and the resend
(the server answers 409 and the pod is looked at again).

What is retried here (``eviction_retryable``): transport faults and 5xx, and a 429 only when it is
API throttling. A 429 from a PodDisruptionBudget, and the 500 for a pod under two PDBs, go back to
the drain, which waits on the PDB (or fails the pod naming both PDBs).
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.clients.kube import KubeAccess
from bot.clients.retry import repeatable
from bot.errors import TemporaryError
from bot.steps.drain.filters import Obj


class Evicted(enum.Enum):
    """How an eviction ended."""

    ACCEPTED = "accepted"  # the server took it (this attempt, or an earlier one whose answer was lost)
    ALREADY_GONE = "already gone"  # the pod was gone or replaced before any eviction of ours landed


def disruption_budget_refusal(exc: ApiException) -> bool:
    """A 429 that means a PodDisruptionBudget said no (not API throttling)."""
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or "")
    return exc.status == 429 and ("DisruptionBudget" in body or "disruption budget" in body)


def under_two_budgets(exc: ApiException) -> bool:
    """The 500 the API answers for a pod covered by more than one PodDisruptionBudget."""
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or "")
    return exc.status == 500 and "more than one" in body


def eviction_retryable(exc: BaseException) -> bool:
    """Retry transport faults, 5xx and throttling; hand PDB refusals back to the drain."""
    if isinstance(exc, ApiException) and (disruption_budget_refusal(exc) or under_two_budgets(exc)):
        return False
    return repeatable(exc)


class _LookAgain(TemporaryError):
    """The pod changed between the look and the resend (409): look again at once."""

    def __init__(self) -> None:
        super().__init__("the pod changed since it was looked at", delay=0.0)


@dataclass
class PodEviction:
    """Evicts one pod (``pod`` as listed) through ``kube``, bounded by ``deadline`` and ``stop``."""

    kube: KubeAccess
    pod: Obj
    grace_period: int | None
    attempts: int = 0
    unsure: bool = False  # True while an attempt may have been applied without our knowing

    @property
    def uid(self) -> str:
        """The UID the eviction is bound to."""
        return str(self.pod["metadata"]["uid"])

    def run(self, deadline: float, stop: threading.Event) -> Evicted:
        """Send the eviction until accepted or found unnecessary; raises the last ``ApiException`` (429 PDB,
        500 two PDBs, 403...) or transport error when retrying did not help before ``deadline``/``stop``."""
        meta = self.pod["metadata"]
        return self.kube.retry.call(
            self._attempt,
            what=f"evict pod {meta['namespace']}/{meta['name']}",
            retry_on=eviction_retryable,
            deadline=deadline,
            abort=stop,
        )

    def _attempt(self) -> Evicted:
        self.attempts += 1
        version = None
        if self.unsure:  # an earlier attempt may have been applied although its answer was lost
            seen = self._look()
            if seen is None or seen["metadata"].get("uid") != self.uid or seen["metadata"].get("deletionTimestamp"):
                self.unsure = False
                return Evicted.ACCEPTED
            version = seen["metadata"].get("resourceVersion")
        self.unsure = True
        try:
            self._send(version)
        except ApiException as exc:
            if exc.status == 404:  # the pod is gone (after a look: it left between the look and the resend)
                self.unsure = False
                return Evicted.ALREADY_GONE if version is None else Evicted.ACCEPTED
            if exc.status == 409:  # a precondition failed: UID replaced, or (resend) the pod changed since the look
                if version is None:
                    self.unsure = False
                    return Evicted.ALREADY_GONE
                raise _LookAgain from None
            if exc.status is not None and 400 <= exc.status < 500:
                self.unsure = False  # a refusal (PDB 429, 403...): nothing was applied
            raise
        self.unsure = False
        return Evicted.ACCEPTED

    def _look(self) -> Obj | None:
        meta = self.pod["metadata"]
        items = self.kube.list_raw(
            self.kube.core.list_namespaced_pod,
            namespace=meta["namespace"],
            field_selector=f"metadata.name={meta['name']}",
        )
        return next(iter(items), None)

    def _send(self, resource_version: str | None) -> None:
        meta = self.pod["metadata"]
        body = client.V1Eviction(
            metadata=client.V1ObjectMeta(name=meta["name"], namespace=meta["namespace"]),
            delete_options=client.V1DeleteOptions(
                grace_period_seconds=self.grace_period,
                preconditions=client.V1Preconditions(uid=self.uid, resource_version=resource_version),
            ),
        )
        self.kube.core.create_namespaced_pod_eviction(
            meta["name"], meta["namespace"], body, _request_timeout=self.kube.timeout
        )
