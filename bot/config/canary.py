"""``canary:`` settings — how an app maps to its traffic router and its stable/canary backends.

Without an entry the bot discovers the app (see ``bot/steps/canary/discovery.py``): labels and
annotations on the route object, or the naming convention ``<app>`` / ``<app>-stable`` (stable)
and ``<app>-canary`` (canary). An entry here overrides discovery for that app — useful when the
names follow no convention, when one namespace has several candidates, or to turn on promotion
of the canary's image into the stable Deployment.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from bot.durations import coerce_duration, format_duration

NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
Router = Literal["gateway", "contour", "nginx", "istio", "replicas", "argo", "flagger"]
ROUTE_KINDS: dict[str, str] = {
    "gateway": "HTTPRoute",
    "contour": "HTTPProxy",
    "nginx": "Ingress (the canary one)",
    "istio": "VirtualService",
    "replicas": "Service",
    "argo": "Rollout",
    "flagger": "Canary",
}


class CanaryApp(BaseModel):
    """``canary.apps.<app>``: where the app lives and which objects carry its traffic split."""

    model_config = ConfigDict(extra="forbid")

    namespace: str | None = Field(None, pattern=NAME, description="default: the command's namespace")
    clusters: list[str] = Field(default_factory=lambda: ["*"], description="clusters this entry applies to")
    router: Router | None = Field(None, description="skip detection: which router carries the split")
    route: str | None = Field(
        None,
        pattern=NAME,
        description="the HTTPRoute / HTTPProxy / VirtualService / canary Ingress / Service / Rollout",
    )
    stable: str | None = Field(None, pattern=NAME, description="stable backend: Service name (Istio: host)")
    canary: str | None = Field(None, pattern=NAME, description="canary backend: Service name (Istio: host)")
    stable_subset: str | None = Field(None, pattern=NAME, description="Istio: the stable destination's subset")
    canary_subset: str | None = Field(None, pattern=NAME, description="Istio: the canary destination's subset")
    stable_deployment: str | None = Field(None, pattern=NAME, description="default <app> or <app>-stable")
    canary_deployment: str | None = Field(None, pattern=NAME, description="default <app>-canary")
    promote_image: bool = Field(
        False, description="promote also sets the stable Deployment's images to the canary's (it becomes stable)"
    )
    weight_total: int = Field(
        100,
        ge=1,
        le=100_000_000,
        description="weights written sum to this (relative routers; ingress-nginx canary-weight-total)",
    )

    @model_validator(mode="after")
    def _route_needs_router(self) -> CanaryApp:
        if self.route is not None and self.router is None:
            raise ValueError("canary: `route` needs `router` (which kind of object it names)")
        return self


class CanarySettings(BaseModel):
    """Per-app overrides, and where a canary change counts as destructive (approval rules apply)."""

    model_config = ConfigDict(extra="forbid")

    apps: dict[str, CanaryApp] = Field(default_factory=dict, description="app name → how it is routed")
    destructive_environments: list[str] = Field(
        default_factory=lambda: ["production"],
        description="cluster environments where changing traffic weights is a destructive run",
    )
    unready_after: Annotated[timedelta, BeforeValidator(coerce_duration), PlainSerializer(format_duration)] = Field(
        timedelta(seconds=30),
        ge=timedelta(seconds=1),
        le=timedelta(hours=1),
        description="a guarded progression (--step) rolls back when a canary pod stays unready this long",
    )
