"""Istio ``VirtualService``: ``spec.http[].route[].weight`` (destinations must add up to 100).

A destination is a host (a Service's short name or FQDN) and optionally a subset; the stable
and canary backends may be two hosts, or one host with two subsets (``stable``/``canary``).
"""

from __future__ import annotations

from typing import Any

from bot.steps.canary.driver import BackendName
from bot.steps.canary.objects import VIRTUALSERVICE, Obj
from bot.steps.canary.routes import WeightedRoutes


def short_host(host: str, namespace: str) -> str | None:
    """``checkout`` for ``checkout``, ``checkout.<ns>``, ``checkout.<ns>.svc(.cluster.local)``; None elsewhere."""
    parts = host.split(".")
    if len(parts) == 1:
        return host
    if parts[1] != namespace or (len(parts) > 2 and parts[2] != "svc"):
        return None
    return parts[0]


class IstioRoutes(WeightedRoutes):
    """VirtualService HTTP routes."""

    router = "istio"
    kind = VIRTUALSERVICE
    rules_key = "http"
    backends_key = "route"
    relative = False

    def identity(self, backend: Obj, namespace: str) -> BackendName | None:
        """The destination's host (short name, in this namespace) and subset."""
        dest = backend.get("destination") or {}
        host = short_host(str(dest.get("host", "")), namespace)
        return BackendName(host, dest.get("subset")) if host else None

    def guards(self, backend: Obj) -> list[tuple[tuple[str, ...], Any]]:
        """The destination's host (and subset)."""
        dest = backend.get("destination") or {}
        out: list[tuple[tuple[str, ...], Any]] = [(("destination", "host"), dest.get("host"))]
        if "subset" in dest:
            out.append((("destination", "subset"), dest["subset"]))
        return out

    def effective(self, stored: list[int | None]) -> list[int]:
        """No weights: one destination takes 100%, several share evenly; otherwise unset is 0."""
        if all(w is None for w in stored):
            share = 100 // len(stored) if stored else 0
            return [share] * len(stored)
        return [0 if w is None else w for w in stored]

    def rule_label(self, index: int, rule: Obj) -> str:
        """``http[0] (name)`` when the route is named."""
        name = rule.get("name")
        return f"http route {index + 1}" + (f" ({name})" if name else "")
