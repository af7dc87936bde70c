"""The alerting service: sweeps, the alert lifecycle, digests, and one poster among replicas.

Same layer as ``bot.engine`` (and independent of it): it runs the checks of ``bot.health.checks``
with the clients and the store, and talks to a chat surface only through ``AlertPoster``
(``bot.slack.alerts`` implements it for Slack).
"""

from bot.health.alerting.access import AlertAccess
from bot.health.alerting.actions import AlertActions
from bot.health.alerting.lifecycle import AlertLifecycle, alert_channel
from bot.health.alerting.ports import AlertPoster, AlwaysLeader, Leadership, MessageRef, PostError
from bot.health.alerting.service import HealthService
from bot.health.alerting.sweep import ClusterSweep, Sweeper

__all__ = [
    "AlertAccess",
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
