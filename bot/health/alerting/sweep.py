"""A sweep: every configured cluster read once (concurrently) and every check evaluated.

Clusters are swept in parallel threads with the bot's own credentials. A cluster that cannot be
reached yields only a ``cluster_unreachable`` finding: its other alerts are left as they are
(never resolved for lack of data).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from bot.clients.kube import KubeClients
from bot.config.settings import Settings
from bot.errors import BotError
from bot.health.checks import (
    CLUSTER_UNREACHABLE,
    HEALTH_CHECKS,
    CheckRegistry,
    ClusterGlance,
    Evaluation,
    backup_status,
    evaluate,
    glance,
    take_snapshot,
    unreachable,
)
from bot.metrics import HEALTH_SWEEP_SECONDS
from bot.store import Store

log = logging.getLogger("bot.health")


@dataclass
class ClusterSweep:
    """The outcome of sweeping one cluster."""

    cluster: str
    evaluation: Evaluation
    glance: ClusterGlance
    seconds: float


class Sweeper:
    """Reads clusters and evaluates the checks; knows nothing of alerts or Slack."""

    def __init__(
        self,
        settings: Settings,
        kube: KubeClients,
        store: Store | None,
        *,
        clock: Callable[[], datetime],
        checks: CheckRegistry = HEALTH_CHECKS,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.store = store
        self.clock = clock
        self.checks = checks

    def sweep(self, clusters: Sequence[str] | None = None) -> list[ClusterSweep]:
        """Sweep ``clusters`` (default: all configured) concurrently; results in configuration order."""
        names = list(clusters or self.settings.clusters)
        workers = max(1, min(len(names), self.settings.health.max_parallel_clusters))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
            return list(pool.map(self.sweep_cluster, names))

    def sweep_cluster(self, cluster: str) -> ClusterSweep:
        """Read one cluster and evaluate every check on it."""
        started = time.monotonic()
        now = self.clock()
        checks = self.checks.configure(self.settings.health.checks)
        try:
            snap = take_snapshot(self.kube.access(cluster, None), now, checks.resources(), checks.keepers())
        except BotError as exc:
            log.warning("health sweep cannot read the cluster", extra={"cluster": cluster, "error": str(exc)})
            result = unreachable(checks.of(CLUSTER_UNREACHABLE), str(exc))
            return ClusterSweep(cluster, result, ClusterGlance(cluster, error=str(exc)), time.monotonic() - started)
        result = evaluate(snap, checks, now, backup_status(self.settings, self.store, cluster))
        seconds = time.monotonic() - started
        HEALTH_SWEEP_SECONDS.labels(cluster=cluster).observe(seconds)
        log.info(
            "health sweep",
            extra={"cluster": cluster, "findings": len(result.findings), "seconds": round(seconds, 3)},
        )
        return ClusterSweep(cluster, result, glance(snap, result), seconds)
