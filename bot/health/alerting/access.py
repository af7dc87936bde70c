"""Who may act on a cluster's alerts (Ack, Silence) and see them on their App Home.

The permissions are ``policies.access.alerts`` (default ``update alerts.runbook-bot.io``, a
resource that exists only in RBAC rules), asked of the alert's own cluster with
SubjectAccessReview for the clicker's Kubernetes identity — the same way every other permission
of the bot is decided, so an operator grants it with a ClusterRole.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.clients import authz
from bot.clients.api_errors import call_translated
from bot.clients.kube import KubeClients
from bot.errors import BotError, DeniedError
from bot.model import Permission, Requester


class AlertAccess:
    """Answers whether a person holds the alert permissions on a cluster (SubjectAccessReview)."""

    def __init__(self, kube: KubeClients, permissions: Sequence[Permission], clusters: Sequence[str]) -> None:
        self._kube = kube
        self._permissions = list(permissions)
        self._clusters = set(clusters)

    def missing(self, cluster: str, actor: Requester) -> list[Permission]:
        """The alert permissions ``actor`` lacks on ``cluster`` (BotError when the cluster cannot answer).

        The kubeconfig's own identity (the shell without ``--as``) is not impersonated and not asked
        about: it acts with its own credentials, as everywhere else in the bot.
        """
        if cluster not in self._clusters:
            raise DeniedError(f"cluster {cluster} is not configured any more; its alerts cannot be changed")
        if not actor.impersonates or not self._permissions:
            return []
        bot = self._kube.access(cluster, None)
        return call_translated(
            cluster,
            lambda: authz.missing_permissions(bot, actor.kube_user, actor.kube_groups, self._permissions),
        )

    def refusal(self, cluster: str, actor: Requester) -> str | None:
        """Why ``actor`` may not act on alerts of ``cluster``, or None when they may."""
        try:
            missing = self.missing(cluster, actor)
        except BotError as exc:
            return f"cannot check your permissions on {cluster}: {exc}"
        if not missing:
            return None
        listed = " and ".join(p.describe() for p in missing)
        return f"{actor.kube_user} may not {listed} on cluster {cluster}, which acting on its alerts needs"

    def may_act(self, cluster: str, actor: Requester) -> bool:
        """True when ``actor`` holds every alert permission on ``cluster`` (False when it cannot be checked)."""
        return self.refusal(cluster, actor) is None
