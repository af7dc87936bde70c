"""Who may read the bot's own records and act on alerts (``policies.access``).

These are Kubernetes permissions, asked of the cluster with SubjectAccessReview like every other:
by default on resources of the API group ``runbook-bot.io`` that exist only in RBAC rules — the
usual way to give an application its own permissions — so an operator grants them with a
ClusterRole (see ``helm/`` and the README). Any permission may be configured instead.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.model import Permission

BOT_API_GROUP = "runbook-bot.io"


class AccessSettings(BaseModel):
    """The permissions that gate ``runs``, ``audit`` and the Ack/Silence alert buttons."""

    model_config = ConfigDict(extra="forbid")

    runs: list[Permission] = Field(
        default_factory=lambda: [Permission(verb="list", group=BOT_API_GROUP, resource="runs")],
        description="needed to list recent runs (`runs`)",
    )
    audit: list[Permission] = Field(
        default_factory=lambda: [Permission(verb="list", group=BOT_API_GROUP, resource="auditevents")],
        description="needed to read the audit trail (`audit`)",
    )
    alerts: list[Permission] = Field(
        default_factory=lambda: [Permission(verb="update", group=BOT_API_GROUP, resource="alerts")],
        description="needed to acknowledge or silence an alert (on the alert's cluster)",
    )
