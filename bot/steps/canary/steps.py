"""``canary.traffic``: set, promote, abort or show an app's stable/canary split, whatever routes it.

The plan names the router and object found, shows current → new weights per route rule (with
the percentages that result), warns about what the router does with them, and checks every
write with a server-side dry run as the requester. ``status`` only reads (the run's risk drops
to read); on clusters in ``canary.destructive_environments`` a change is destructive, so the
approval rules for destructive runs apply. ``--step``/``--every``/``--until`` make a split the
start of a guarded progression (``guarded``): resumable by another replica, pausable.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.errors import UserError
from bot.model import Permission, Weights
from bot.report import Report, Tone
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.canary.argo import ArgoRollout
from bot.steps.canary.contour import ContourRoutes
from bot.steps.canary.discovery import discover
from bot.steps.canary.driver import Action, Driver, Proposal, Split, Target, change_lines
from bot.steps.canary.flagger import FlaggerCanary
from bot.steps.canary.gateway import GatewayRoutes
from bot.steps.canary.guarded import GuardedProgression, plan_progression
from bot.steps.canary.istio import IstioRoutes
from bot.steps.canary.nginx import NginxCanary
from bot.steps.canary.progression import CanaryProgression, progression_stages
from bot.steps.canary.promotion import add_image_promotion
from bot.steps.canary.replicas import ReplicaRatio
from bot.steps.dry_run import DRY_RUN, server_dry_run

DRIVERS: dict[str, Driver] = {
    d.router: d
    for d in (
        GatewayRoutes(),
        ContourRoutes(),
        IstioRoutes(),
        NginxCanary(),
        ReplicaRatio(),
        ArgoRollout(),
        FlaggerCanary(),
    )
}
ROUTER_NAMES = {
    "gateway": "Gateway API HTTPRoute",
    "contour": "Contour HTTPProxy",
    "istio": "Istio VirtualService",
    "nginx": "ingress-nginx canary Ingress",
    "replicas": "replica ratio of two Deployments",
    "argo": "Argo Rollouts",
    "flagger": "Flagger",
}
PROMOTE, ABORT = Weights(0, 100), Weights(100, 0)
APP_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class CanaryParams(BaseModel):
    """The app, and a split (``90/10``) or ``promote`` / ``abort`` / ``status``; a progression's flags."""

    model_config = ConfigDict(extra="forbid")
    app: str = Field(description="the app whose traffic to shift")
    action: Weights | Literal["promote", "abort", "status"] = Field(
        description="a stable/canary split such as 90/10, or promote, abort or status"
    )
    namespace: str = Field(description="the app's namespace")
    step: int | None = Field(None, description="a progression: points of traffic moved to the canary per stage")
    every: timedelta | None = Field(None, description="a progression: time between stages (default 5m)")
    until: Weights | None = Field(None, description="a progression: the last stage's split")


def _request(params: CanaryParams) -> tuple[Action, Weights]:
    if params.action == "promote":
        return "promote", PROMOTE
    if params.action == "abort":
        return "abort", ABORT
    assert isinstance(params.action, Weights)
    return "set", params.action


class CanaryTraffic(Step[CanaryParams]):
    """Drive the stable/canary split of an app through its router."""

    name = "canary.traffic"
    Params = CanaryParams
    summary = "set, promote, abort or show an app's canary traffic split"

    def _locate(self, ctx: StepContext, params: CanaryParams) -> tuple[Target, Driver, Split]:
        assert ctx.settings is not None
        if not APP_NAME.fullmatch(params.app):
            raise UserError(
                f"`{params.app[:60]}` is not an app name", hint="app names are DNS labels: a-z, 0-9 and '-'"
            )
        env = ctx.settings.clusters[ctx.cluster].environment
        target = discover(ctx.kube, ctx.settings.canary, ctx.cluster, env, params.app, params.namespace)
        driver = DRIVERS[target.router]
        return target, driver, driver.read(ctx.kube, target)

    def _propose(
        self, ctx: StepContext, params: CanaryParams, target: Target, driver: Driver, split: Split
    ) -> tuple[Proposal, list[Permission]]:
        action, weights = _request(params)
        proposal = driver.propose(ctx.kube, target, split, action, weights)
        reads: list[Permission] = []
        if action == "promote" and target.settings.promote_image and target.router not in ("argo", "flagger"):
            reads = add_image_promotion(ctx.kube, target, proposal)
        return proposal, reads

    def plan(self, ctx: StepContext, params: CanaryParams) -> StepPlan:
        stages = progression_stages(params.action, params.step, params.every, params.until)
        target, driver, split = self._locate(ctx, params)
        found = f"{ROUTER_NAMES[target.router]} {target.where} (found by {target.found_by or 'configuration'})"
        if stages is not None:
            return plan_progression(ctx, params.app, target, driver, split, stages, found)
        reads = driver.read_permissions(target)
        if params.action == "status":
            return StepPlan(
                description=f"read the traffic split of {params.app}: {found}",
                targets=[split.obj],
                permissions=reads,
                fingerprint={"router": target.router, "route": target.route},
                risk="read",
            )
        proposal, more_reads = self._propose(ctx, params, target, driver, split)
        assert ctx.settings is not None
        env = ctx.settings.clusters[ctx.cluster].environment
        plan = StepPlan(
            description=f"canary {params.app} {params.action}: {found}",
            details=[
                *change_lines(proposal.before, proposal.after, str(target.stable), str(target.canary)),
                *proposal.details,
            ],
            warnings=list(proposal.warnings),
            targets=[w.target for w in proposal.writes if w.target] or [split.obj],
            permissions=list(
                dict.fromkeys([*reads, *more_reads, *(p for w in proposal.writes for p in w.permissions)])
            ),
            fingerprint={
                "router": target.router,
                "route": target.route,
                "stored": split.fingerprint,
                "after": [[r.stable, r.canary] for r in proposal.after],
                "writes": [w.what for w in proposal.writes],
            },
            mutates=proposal.changes,
            risk="destructive" if proposal.changes and env in ctx.settings.canary.destructive_environments else None,
        )
        if not proposal.changes:
            plan.warnings.append(f"{params.app} is already at {split.rules[0].split_text()} — nothing will change")
            plan.risk = "read"
        for write in proposal.writes:
            server_dry_run(plan, write.what, lambda w=write: w.submit(ctx.kube, DRY_RUN))  # type: ignore[misc]
        return plan

    def run(self, ctx: StepContext, params: CanaryParams) -> Report:
        stages = progression_stages(params.action, params.step, params.every, params.until)
        target, driver, split = self._locate(ctx, params)
        verb = "status"
        if stages is not None:
            split = GuardedProgression(ctx, params.app, target, driver, stages).run()
            report = split_report(params.app, target, split, "changed")
            state = ctx.artifacts.get(CanaryProgression)
            if state is not None:
                report.summary = f"progression {state.stages[0]} → {state.stages[-1]} in {state.total} stages; " + (
                    report.summary or ""
                )
            return report
        if params.action != "status":
            proposal, _ = self._propose(ctx, params, target, driver, split)
            for i, write in enumerate(proposal.writes, 1):
                ctx.progress(f"{i}/{len(proposal.writes)}: {write.what}")
                write.submit(ctx.kube, None)
            split = driver.read(ctx.kube, target)
            verb = "changed" if proposal.changes else "unchanged"
        return split_report(params.app, target, split, verb)


def split_report(app: str, target: Target, split: Split, verb: str) -> Report:
    """The split as stored now (``verb``: status, changed, unchanged): one row per rule, and the notes."""
    first = split.rules[0]
    word = {"status": "", "changed": "now ", "unchanged": "already "}[verb]
    report = Report(
        title=f"Canary {app}: {word}{first.split_text()} (stable/canary)"
        + (" — nothing changed" if verb == "unchanged" else ""),
        tone=Tone.INFO if verb == "status" else Tone.OK,
        summary=f"{ROUTER_NAMES[target.router]} {target.where}; stable {target.stable}, canary {target.canary}",
    )
    report.table(
        ["Rule", "Stable", "Canary", "Others"],
        [
            [
                r.where,
                f"{r.stable} ({r.percent(r.stable)})",
                f"{r.canary} ({r.percent(r.canary)})",
                ", ".join(f"{n} {w} ({r.percent(w)})" for n, w in r.others) or "–",
            ]
            for r in split.rules
        ],
    )
    if split.notes:
        report.section("Notes").lines = list(split.notes)
    return report
