"""Scheduled health checks: sweeps, the alert lifecycle, digests, and one poster among replicas.

Same layer as ``bot.engine``: it uses the checks and snapshot of ``bot.steps``, the clients and
the store, and talks to a chat surface only through ``AlertPoster`` (``bot.slack.alerts``
implements it for Slack).
"""

from bot.health.actions import AlertActions
from bot.health.lifecycle import AlertLifecycle, alert_channel
from bot.health.ports import AlertPoster, AlwaysLeader, Leadership, MessageRef, PostError
from bot.health.service import HealthService
from bot.health.sweep import ClusterSweep, Sweeper

__all__ = [
    "AlertActions",
    "AlertLifecycle",
    "AlertPoster",
    "AlwaysLeader",
    "ClusterSweep",
    "HealthService",
    "Leadership",
    "MessageRef",
    "PostError",
    "Sweeper",
    "alert_channel",
]
