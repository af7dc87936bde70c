"""Contour ``HTTPProxy``: ``spec.routes[].services[].weight``.

Contour splits traffic evenly while no service of a route has a weight; once any has one, a
service *without* a weight gets 0% — the plan warns when the change leaves such a service.
"""

from __future__ import annotations

from typing import Any

from bot.steps.canary.driver import BackendName
from bot.steps.canary.objects import HTTPPROXY, Obj
from bot.steps.canary.routes import WeightedRoutes, _Rule


class ContourRoutes(WeightedRoutes):
    """HTTPProxy route services."""

    router = "contour"
    kind = HTTPPROXY
    rules_key = "routes"
    backends_key = "services"

    def identity(self, backend: Obj, namespace: str) -> BackendName | None:
        """A service of the proxy's namespace (Contour services are always local)."""
        name = backend.get("name")
        return BackendName(str(name)) if name else None

    def guards(self, backend: Obj) -> list[tuple[tuple[str, ...], Any]]:
        """The service's name and port."""
        return [(("name",), backend.get("name")), (("port",), backend.get("port"))]

    def effective(self, stored: list[int | None]) -> list[int]:
        """No weights at all: an even split; some weights: unset means 0."""
        if all(w is None for w in stored):
            share = 100 // len(stored) if stored else 0
            return [share] * len(stored)
        return [0 if w is None else w for w in stored]

    def rule_label(self, index: int, rule: Obj) -> str:
        """``route 1 (/api)`` when the route has a prefix condition."""
        prefixes = [c.get("prefix") for c in rule.get("conditions") or [] if c.get("prefix")]
        return f"route {index + 1}" + (f" ({', '.join(prefixes)})" if prefixes else "")

    def extra_warnings(self, rule: _Rule, new: list[int | None]) -> list[str]:
        """Services left without a weight get 0% once any weight is set."""
        unset = [n for i, (n, w) in enumerate(zip(rule.names, new, strict=True)) if w is None and i not in rule.pair]
        if not unset:
            return []
        return [
            f"{rule.label}: {', '.join(unset)} {'has' if len(unset) == 1 else 'have'} no weight — "
            "Contour gives a service without a weight 0% of the traffic once any service of the route has one"
        ]
