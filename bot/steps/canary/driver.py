"""The common shape of every canary router driver.

A driver reads the split as stored (``read`` → ``Split``: one ``RuleWeights`` per route rule),
turns a request into a ``Proposal`` (current → new weights per rule, warnings, and the writes
that would make it so), and never writes outside ``Write.submit``. The step plans with the
writes' server-side dry run and runs by submitting them for real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from bot.clients.kube import KubeAccess
from bot.config.canary import CanaryApp
from bot.model import ObjectRef, Permission, Weights

Action = Literal["set", "promote", "abort"]


@dataclass(frozen=True)
class BackendName:
    """A backend as the route names it: a Service (Istio: a host), optionally with an Istio subset."""

    name: str
    subset: str | None = None

    def __str__(self) -> str:
        return self.name + (f" (subset {self.subset})" if self.subset else "")


@dataclass
class Target:
    """Where an app's traffic split lives: found by discovery or named in ``canary.apps``."""

    app: str
    namespace: str
    router: str
    route: str  # the object carrying the split (HTTPRoute, HTTPProxy, VirtualService, canary Ingress, Service, Rollout)
    stable: BackendName
    canary: BackendName
    settings: CanaryApp
    version: str = ""  # the API version the object was found at (custom resources)
    found_by: str = ""  # how discovery found it, for the plan

    @property
    def where(self) -> str:
        """``namespace/route``."""
        return f"{self.namespace}/{self.route}"


@dataclass(frozen=True)
class RuleWeights:
    """The weights of one route rule: stable, canary and any other backend sharing it."""

    where: str
    stable: int
    canary: int
    others: tuple[tuple[str, int], ...] = ()

    @property
    def total(self) -> int:
        """The sum of every weight in the rule (weights are relative)."""
        return self.stable + self.canary + sum(w for _, w in self.others)

    def percent(self, weight: int) -> str:
        """``weight`` as the share of the rule's traffic it receives: ``90%``, ``33.3%``, ``–`` with no traffic."""
        if self.total == 0:
            return "–"
        value = 100.0 * weight / self.total
        return f"{value:.0f}%" if abs(value - round(value)) < 0.05 else f"{value:.1f}%"

    def split_text(self) -> str:
        """``90/10`` (stable/canary share of the rule's traffic)."""
        return f"{self.percent(self.stable).rstrip('%')}/{self.percent(self.canary).rstrip('%')}"


@dataclass
class Split:
    """The split as stored now, rule by rule, with facts worth saying (pods, unset weights…)."""

    router: str
    obj: ObjectRef
    rules: list[RuleWeights]
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)


@dataclass
class Write:
    """One write of a proposal; ``submit(kube, dry_run)`` sends it (``dry_run="All"`` at plan time)."""

    what: str
    submit: Callable[[KubeAccess, str | None], object]
    permissions: list[Permission] = field(default_factory=list)
    target: ObjectRef | None = None


@dataclass
class Proposal:
    """What a request would change: rules before → after, warnings, details and the writes."""

    before: list[RuleWeights]
    after: list[RuleWeights]
    writes: list[Write] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def changes(self) -> bool:
        """True when anything would be written."""
        return bool(self.writes)


class Driver(Protocol):
    """A router driver: read the split, propose a change, declare the permissions for both."""

    router: ClassVar[str]

    def read(self, kube: KubeAccess, target: Target) -> Split:
        """The split as stored now."""
        ...

    def propose(self, kube: KubeAccess, target: Target, split: Split, action: Action, weights: Weights) -> Proposal:
        """What ``action`` (to ``weights``) would write; UserError when it cannot be done here."""
        ...

    def read_permissions(self, target: Target) -> list[Permission]:
        """What ``read`` needs."""
        ...


def scaled(weights: Weights, total: int) -> tuple[int, int]:
    """Stable and canary weights summing to ``total`` in the requested ratio (integers)."""
    stable = round(total * weights.stable / 100)
    return stable, total - stable


def change_lines(before: list[RuleWeights], after: list[RuleWeights], stable: str, canary: str) -> list[str]:
    """``HTTPRoute checkout rule 1: checkout 100 → 90 (100% → 90%), checkout-canary 0 → 10 (0% → 10%)``."""
    lines = []
    for old, new in zip(before, after, strict=True):
        parts = [
            f"{stable} {old.stable} → {new.stable} ({old.percent(old.stable)} → {new.percent(new.stable)})",
            f"{canary} {old.canary} → {new.canary} ({old.percent(old.canary)} → {new.percent(new.canary)})",
        ]
        parts += [f"{name} {weight} ({old.percent(weight)} → {new.percent(weight)})" for name, weight in old.others]
        lines.append(f"{old.where}: " + ", ".join(parts))
    return lines
