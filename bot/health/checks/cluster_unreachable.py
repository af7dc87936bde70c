"""``cluster_unreachable``: the API server of a cluster cannot be reached at all.

Found by the sweep itself rather than from a snapshot: a cluster that could not be read has no
snapshot (``unreachable``), while one that was read evaluates this check with nothing found,
which resolves an earlier alert. Its other alerts are left as they are meanwhile.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Evaluation, Finding
from bot.health.checks.snapshot import ClusterSnapshot


def find_nothing_when_read(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """A snapshot was taken, so the cluster was reachable."""
    return []


def unreachable(settings: CheckSettings, reason: str) -> Evaluation:
    """The evaluation of a cluster that could not be read: only this check (with its ``settings``), if enabled."""
    if not settings.enabled:
        return Evaluation()
    finding = Finding(CLUSTER_UNREACHABLE.name, "cluster", reason, settings.severity)
    return Evaluation(findings=[finding], evaluated={CLUSTER_UNREACHABLE.name})


CLUSTER_UNREACHABLE = Check(
    name="cluster_unreachable",
    title="Cluster unreachable",
    why="The bot cannot read this cluster: no other check can run, and runbooks will fail.",
    duration=timedelta(minutes=5),
    severity="critical",
    resources=(),
    settings=CheckSettings,
    find=find_nothing_when_read,
)
