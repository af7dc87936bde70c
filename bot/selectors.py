"""The two matchers the bot uses everywhere: Kubernetes label selectors and cluster patterns.

``label_selector_matches`` is the API server's LabelSelector semantics (matchLabels and
matchExpressions) over plain JSON objects. ``cluster_matches`` is the configuration's cluster
pattern list: a cluster name, ``env:<environment>``, or ``*`` for every cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

EVERYTHING = "*"
ENV_PREFIX = "env:"


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """LabelSelector semantics; an empty selector matches everything, a missing (None) one nothing."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(expr, labels) for expr in selector.get("matchExpressions") or [])


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False  # an unknown operator selects nothing, as the API server would refuse it


def cluster_matches(patterns: Iterable[str], cluster: str, environment: str) -> bool:
    """Does any pattern (``*``, a cluster name, ``env:<environment>``) select ``cluster``?"""
    return any(p in (EVERYTHING, cluster, ENV_PREFIX + environment) for p in patterns)


def unknown_cluster_names(patterns: Iterable[str], known: Iterable[str]) -> list[str]:
    """Cluster names in ``patterns`` that are not configured (``*`` and ``env:`` patterns are fine)."""
    names = set(known)
    return sorted({p for p in patterns if p != EVERYTHING and not p.startswith(ENV_PREFIX) and p not in names})
