"""``pod_multiple_pdbs``: pods covered by more than one PodDisruptionBudget (their eviction fails)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import ClusterSnapshot
from bot.selectors import label_selector_matches

EXAMPLES = 5


def find_pods_under_two_pdbs(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """One finding per (namespace, set of overlapping PDBs), with a few of the pods as examples."""
    by_ns: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for p in snap.pdbs:
        if p.selector is not None:
            by_ns[p.namespace].append((p.name, p.selector))
    overlaps: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for pod in snap.pods:
        candidates = by_ns.get(pod.namespace)
        if not candidates or len(candidates) < 2:
            continue
        names = tuple(sorted(n for n, sel in candidates if label_selector_matches(sel, pod.labels)))
        if len(names) > 1:
            overlaps[(pod.namespace, names)].append(pod.name)
    return [
        Finding(
            "pod_multiple_pdbs",
            f"pdb/{ns}/{'+'.join(names)}",
            f"{len(pods)} pod{'s' if len(pods) != 1 else ''} in {ns} covered by PDBs {', '.join(names)}",
            settings.severity,
            details=tuple(pods[:EXAMPLES]),
        )
        for (ns, names), pods in sorted(overlaps.items())
    ]


POD_MULTIPLE_PDBS = Check(
    name="pod_multiple_pdbs",
    title="Pods under two PDBs",
    why="Pods covered by more than one PodDisruptionBudget cannot be evicted at all (the API answers 500): "
    "drains fail.",
    duration=timedelta(0),
    severity="warning",
    resources=("poddisruptionbudgets", "pods"),
    settings=CheckSettings,
    find=find_pods_under_two_pdbs,
)
