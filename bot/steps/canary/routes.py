"""Routers whose rules hold a list of weighted backends: Gateway API, Contour and Istio share this.

A rule is changed only when it sends to both the stable and the canary backend; the write is
one JSON Patch that first ``test``s each backend's identity at its index (so a route reordered
since the plan is refused by the server) and then sets both weights. Other backends in a rule
keep their weights; the plan shows the percentages that result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bot.clients.kube import KubeAccess
from bot.errors import UserError
from bot.model import ObjectRef, Permission, Weights
from bot.steps.canary.driver import Action, BackendName, Proposal, RuleWeights, Split, Target, Write, scaled
from bot.steps.canary.objects import Kind, Obj, get_object, json_patch, pointer


@dataclass
class _Rule:
    """A rule that sends to both backends: its index, the two backends' indices, and every weight."""

    index: int
    label: str
    stable: int
    canary: int
    names: list[str]
    stored: list[int | None]
    effective: list[int]

    def weights(self) -> RuleWeights:
        """The rule as the plan shows it: stable, canary and the other backends' weights."""
        others = tuple(
            (n, w) for i, (n, w) in enumerate(zip(self.names, self.effective, strict=True)) if i not in self.pair
        )
        return RuleWeights(self.label, self.effective[self.stable], self.effective[self.canary], others)

    @property
    def pair(self) -> tuple[int, int]:
        """The indices of the stable and canary backends."""
        return (self.stable, self.canary)


class WeightedRoutes:
    """Shared logic; subclasses say where rules and backends are and what an unset weight means."""

    router: ClassVar[str]
    kind: ClassVar[Kind]
    rules_key: ClassVar[str]
    backends_key: ClassVar[str]
    relative: ClassVar[bool] = True  # False: the weights of a rule must add up to 100 (Istio)

    # -- what subclasses define -----------------------------------------------------------------
    def identity(self, backend: Obj, namespace: str) -> BackendName | None:
        """The backend's name (and subset), or None when it is not a Service of this namespace."""
        raise NotImplementedError

    def guards(self, backend: Obj) -> list[tuple[tuple[str, ...], Any]]:
        """(path inside the backend, value) pairs the patch tests before writing."""
        raise NotImplementedError

    def effective(self, stored: list[int | None]) -> list[int]:
        """The weights the router applies when some are unset."""
        raise NotImplementedError

    def rule_label(self, index: int, rule: Obj) -> str:
        """How the plan names a rule."""
        return f"rule {index + 1}"

    def extra_warnings(self, rule: _Rule, new: list[int | None]) -> list[str]:
        """Router-specific warnings about a rule after the change."""
        return []

    # -- reading --------------------------------------------------------------------------------
    def backends(self, obj: Obj, index: int) -> list[Obj]:
        """The backends of rule ``index``."""
        rules = (obj.get("spec") or {}).get(self.rules_key) or []
        return list(rules[index].get(self.backends_key) or [])

    def find_pair(
        self, obj: Obj, namespace: str, stables: list[BackendName], canaries: list[BackendName]
    ) -> tuple[BackendName, BackendName] | None:
        """The first (stable, canary) from the candidates that some rule of ``obj`` sends to together."""
        for rule in (obj.get("spec") or {}).get(self.rules_key) or []:
            found = {self.identity(b, namespace) for b in rule.get(self.backends_key) or []}
            for s in stables:
                for c in canaries:
                    if s in found and c in found:
                        return s, c
        return None

    def _rules(self, obj: Obj, target: Target) -> list[_Rule]:
        out = []
        name = obj["metadata"]["name"]
        for i, rule in enumerate((obj.get("spec") or {}).get(self.rules_key) or []):
            backends = list(rule.get(self.backends_key) or [])
            ids = [self.identity(b, target.namespace) for b in backends]
            if target.stable not in ids or target.canary not in ids:
                continue
            stored = [b.get("weight") if isinstance(b.get("weight"), int) else None for b in backends]
            out.append(
                _Rule(
                    index=i,
                    label=f"{self.kind.kind} {name} {self.rule_label(i, rule)}",
                    stable=ids.index(target.stable),
                    canary=ids.index(target.canary),
                    names=[str(x) if x else _describe(b) for x, b in zip(ids, backends, strict=True)],
                    stored=stored,
                    effective=self.effective(stored),
                )
            )
        if not out:
            raise UserError(
                f"{self.kind.kind} {target.where} has no rule that sends to both {target.stable} and {target.canary}",
                hint=f"add {target.canary} to the rule with weight 0 first",
            )
        return out

    def read(self, kube: KubeAccess, target: Target) -> Split:
        """The stored weights of every rule that sends to both backends."""
        obj = get_object(kube, self.kind, target.version, target.namespace, target.route)
        rules = self._rules(obj, target)
        notes = [
            f"{r.label}: weight unset on {', '.join(n for n, s in zip(r.names, r.stored, strict=True) if s is None)}"
            for r in rules
            if None in r.stored
        ]
        return Split(
            self.router,
            ObjectRef(kind=self.kind.kind, name=target.route, namespace=target.namespace),
            [r.weights() for r in rules],
            notes,
            raw=obj,
            fingerprint={"uid": obj["metadata"].get("uid"), "rules": [[r.index, *r.stored] for r in rules]},
        )

    def read_permissions(self, target: Target) -> list[Permission]:
        """get on the route."""
        return [self.kind.permission("get", target.namespace, target.route)]

    # -- proposing ------------------------------------------------------------------------------
    def propose(self, kube: KubeAccess, target: Target, split: Split, action: Action, weights: Weights) -> Proposal:
        """Set both weights in every rule that sends to both; other backends keep theirs."""
        ops: list[Obj] = []
        proposal = Proposal(before=split.rules, after=[])
        for rule in self._rules(split.raw, target):
            new_s, new_c = self._new_weights(target, rule, weights)
            new_stored: list[int | None] = list(rule.stored)
            new_stored[rule.stable], new_stored[rule.canary] = new_s, new_c
            new_eff = self.effective(new_stored)
            proposal.after.append(_Rule(**{**rule.__dict__, "stored": new_stored, "effective": new_eff}).weights())
            proposal.warnings += self.extra_warnings(rule, new_stored)
            others = [
                f"{n} {w}" for i, (n, w) in enumerate(zip(rule.names, new_eff, strict=True)) if i not in rule.pair
            ]
            if others and self.relative:
                proposal.warnings.append(
                    f"{rule.label} also sends to {', '.join(others)}: the percentages below include them"
                )
            if (rule.stored[rule.stable], rule.stored[rule.canary]) != (new_s, new_c):
                ops += self._ops(split.raw, rule, new_s, new_c)
        if ops:
            proposal.writes.append(
                Write(
                    what=f"the new weights of {self.kind.kind} {target.where}",
                    submit=lambda k, dry: json_patch(
                        k, self.kind, target.version, target.namespace, target.route, ops, dry
                    ),
                    permissions=[self.kind.permission("patch", target.namespace, target.route)],
                    target=split.obj,
                )
            )
        return proposal

    def _new_weights(self, target: Target, rule: _Rule, weights: Weights) -> tuple[int, int]:
        """Relative routers write the configured total; Istio gives the pair what others leave of 100."""
        if self.relative:
            return scaled(weights, target.settings.weight_total)
        left = 100 - sum(w for i, w in enumerate(rule.effective) if i not in rule.pair)
        if left <= 0:
            raise UserError(f"{rule.label}: the other destinations already take 100% of the traffic")
        return scaled(weights, left)

    def _ops(self, obj: Obj, rule: _Rule, new_stable: int, new_canary: int) -> list[Obj]:
        backends = self.backends(obj, rule.index)
        ops: list[Obj] = []
        for j, weight in ((rule.stable, new_stable), (rule.canary, new_canary)):
            base = ("spec", self.rules_key, rule.index, self.backends_key, j)
            for path, value in self.guards(backends[j]):
                ops.append({"op": "test", "path": pointer(*base, *path), "value": value})
            ops.append({"op": "add", "path": pointer(*base, "weight"), "value": weight})
        return ops


def _describe(backend: Obj) -> str:
    """A readable name for a backend that is not a plain Service here."""
    name = backend.get("name") or (backend.get("destination") or {}).get("host") or "?"
    kind = backend.get("kind")
    return f"{kind}/{name}" if kind and kind != "Service" else str(name)
