"""The cloud client factory: one ``NodeGroups`` client per cluster, built from its ``cloud`` settings.

Only ``bot.cloud.aws`` and ``bot.cloud.azure`` import cloud SDKs; they are imported lazily here,
so a bot without cloud clusters never loads boto3 or azure.
"""

from __future__ import annotations

import threading

from bot.cloud.types import NodeGroups, Provider
from bot.config.cloud import CloudSettings
from bot.config.settings import Settings
from bot.errors import PermanentError, UserError


class CloudClients:
    """Builds and caches one ``NodeGroups`` client per cluster from its ``cloud`` settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._cache: dict[str, NodeGroups] = {}
        self._lock = threading.Lock()

    def cloud_settings(self, cluster: str) -> CloudSettings:
        """The cloud settings of ``cluster``."""
        try:
            return self._settings.clusters[cluster].cloud
        except KeyError:
            raise PermanentError(f"cluster {cluster!r} is not configured") from None

    def groups(self, cluster: str, provider: Provider) -> NodeGroups:
        """The node-group client of ``cluster``; a UserError when its cloud is not ``provider``."""
        cs = self.cloud_settings(cluster)
        if cs.provider == "none":
            raise UserError(
                f"cluster {cluster} has no cloud configured, so its instances cannot be replaced",
                hint=f"set clusters.{cluster}.cloud.provider (aws or azure) in the configuration",
            )
        if cs.provider != provider:
            raise UserError(
                f"the node runs on {provider.upper()} but cluster {cluster} is configured for "
                f"{cs.provider.upper()}; nothing was done",
                hint=f"check clusters.{cluster}.cloud in the configuration",
            )
        if provider == "azure" and cs.aks:
            raise UserError(
                f"cluster {cluster} is AKS: its agent pools are managed through the AKS API, which replace-node "
                "does not drive yet; nothing was done",
                hint="drain the node, then `az aks nodepool delete-machines` and scale the pool back",
            )
        with self._lock:
            client = self._cache.get(cluster)
            if client is None:
                client = _build(cluster, cs)
                self._cache[cluster] = client
            return client


def _build(cluster: str, cs: CloudSettings) -> NodeGroups:
    if cs.provider == "aws":
        from bot.cloud.aws import AutoScalingGroups

        return AutoScalingGroups(cluster, cs)
    from bot.cloud.azure import ScaleSets

    return ScaleSets(cluster, cs)
