"""Gateway API ``HTTPRoute``: ``spec.rules[].backendRefs[].weight`` (the portable target).

Weights are relative: a backendRef without a weight counts as 1, and a rule whose weights are
all 0 answers 500 — so the plan shows the percentages that result, not just the numbers.
"""

from __future__ import annotations

from typing import Any

from bot.steps.canary.driver import BackendName
from bot.steps.canary.objects import HTTPROUTE, Obj
from bot.steps.canary.routes import WeightedRoutes

DEFAULT_WEIGHT = 1


class GatewayRoutes(WeightedRoutes):
    """HTTPRoute backendRefs."""

    router = "gateway"
    kind = HTTPROUTE
    rules_key = "rules"
    backends_key = "backendRefs"

    def identity(self, backend: Obj, namespace: str) -> BackendName | None:
        """A Service backendRef in the route's namespace."""
        if backend.get("group", "") not in ("", "core") or backend.get("kind", "Service") != "Service":
            return None
        if backend.get("namespace", namespace) != namespace:
            return None
        return BackendName(str(backend.get("name")))

    def guards(self, backend: Obj) -> list[tuple[tuple[str, ...], Any]]:
        """The backendRef's name."""
        return [(("name",), backend.get("name"))]

    def effective(self, stored: list[int | None]) -> list[int]:
        """Unset weights are 1 (the API's default)."""
        return [DEFAULT_WEIGHT if w is None else w for w in stored]

    def rule_label(self, index: int, rule: Obj) -> str:
        """``rule 1 (/api)`` when the rule matches a path."""
        paths = [((m.get("path") or {}).get("value")) for m in rule.get("matches") or []]
        shown = ", ".join(p for p in paths if p)
        return f"rule {index + 1}" + (f" ({shown})" if shown else "")
