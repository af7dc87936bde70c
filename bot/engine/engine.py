"""The runbook engine: resolve → plan → authorize → (confirm/approve) → execute.

Every step is planned before anything runs. Read-only runbooks then execute at once; change
and destructive runbooks return their plan for confirmation (and approval) first.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from bot.clients import authz
from bot.clients.api_errors import call_translated, translated_api_errors
from bot.clients.kube import Impersonation, KubeAccess, KubeClients
from bot.cloud import CloudClients
from bot.config.settings import Settings
from bot.engine.params import ParamSpec, parse_value, resolution_permissions, resolve_value
from bot.engine.parser import Invocation, bind, tokenize
from bot.engine.plan_hash import plan_hash
from bot.engine.runbooks import Runbook, RunbookCatalog, param_help, substitute
from bot.errors import EXPLAINED, BotError, ClusterUnreachableError, DeniedError, NotFoundError, ParseError, UserError
from bot.model import Permission, Requester
from bot.report import Report, Tone
from bot.steps.base import RunbookInfo, Step, StepContext, StepPlan
from bot.steps.registry import StepRegistry
from bot.steps.resolve import KubeResolver, closest
from bot.store import Store

log = logging.getLogger("bot.engine")
RISK_ORDER = ("read", "change", "destructive")


@dataclass
class PlannedStep:
    """One step bound to its validated arguments and its plan."""

    step: Step[Any]
    params: Any
    plan: StepPlan


@dataclass
class PreparedRun:
    """A fully planned run, ready to show, authorize and execute."""

    run_id: str
    runbook: Runbook
    cluster: str
    namespace: str
    requester: Requester
    values: dict[str, Any]
    steps: list[PlannedStep]
    context: StepContext
    plan_hash: str = ""
    permissions: list[Permission] = field(default_factory=list)

    @property
    def risk(self) -> str:
        """The run's risk: the runbook's, unless its step plans say otherwise.

        A plan may raise it (`scale web 0` is destructive, so approval rules for destructive runs
        apply) or, when every step's plan says so, lower it (`canary web status` only reads).
        """
        declared = [s.plan.risk or self.runbook.risk for s in self.steps]
        if not declared:
            return self.runbook.risk
        return max(declared, key=RISK_ORDER.index)

    @property
    def needs_confirmation(self) -> bool:
        """Anything but a read-only run is confirmed first."""
        return self.risk != "read"


def new_ref() -> str:
    """A short correlation id shown to users and written to the logs."""
    return secrets.token_hex(4)


class Engine:
    """Turns a command line from a requester into a planned, authorized, executed run."""

    def __init__(
        self,
        settings: Settings,
        catalog: RunbookCatalog,
        registry: StepRegistry,
        kube: KubeClients,
        cloud: CloudClients | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.registry = registry
        self.kube = kube
        self.cloud = cloud or CloudClients(settings)
        self.store: Store | None = None
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # the run service's clock (set by it)
        self._infos: list[RunbookInfo] | None = None

    # -- Catalog protocol (for help / whoami) --------------------------------------------------
    def runbook_infos(self) -> Sequence[RunbookInfo]:
        """Every runbook's help and the permissions it needs regardless of target."""
        if self._infos is None:
            infos = []
            for rb in self.catalog.all():
                perms: list[Permission] = []
                for call_ in rb.steps:
                    step = self.registry.get(call_.step)
                    if step is not None:
                        perms += step.static_permissions(None)
                params_help = tuple(param_help(name, spec) for name, spec in rb.params.items())
                infos.append(
                    RunbookInfo(
                        rb.name, rb.summary, rb.usage or rb.name, rb.risk, params_help, tuple(dict.fromkeys(perms))
                    )
                )
            self._infos = infos
        return self._infos

    def cluster_names(self) -> Sequence[str]:
        """Configured cluster names."""
        return list(self.settings.clusters)

    def missing_permissions(
        self, cluster: str, requester: Requester, permissions: Sequence[Permission]
    ) -> list[Permission]:
        """Permissions the requester lacks on ``cluster`` (asked with SubjectAccessReview)."""
        bot = self.kube.access(cluster, None)
        user, groups = requester.kube_user, requester.kube_groups
        return call_translated(cluster, lambda: authz.missing_permissions(bot, user, groups, permissions))

    # -- the pipeline ---------------------------------------------------------------------------
    def access_for(self, cluster: str, requester: Requester, run_id: str, approvers: Sequence[str] = ()) -> KubeAccess:
        """API clients acting as the requester (impersonated), tagged with the run id and approvers."""
        if not requester.impersonates:
            return self.kube.access(cluster, None)
        assert requester.kube_user is not None
        extra = {"runbook-bot.run-id": [run_id]}
        if approvers:
            extra["runbook-bot.approvers"] = list(approvers)
        ident = Impersonation.of(requester.kube_user, requester.kube_groups, extra)
        return self.kube.access(cluster, ident)

    def find_runbook(self, name: str) -> Runbook:
        """The runbook called ``name``; NotFoundError listing the closest (or all) runbooks."""
        rb = self.catalog.get(name)
        if rb is None:
            near = closest(name, self.catalog.names())
            err = NotFoundError("runbook", name, near)
            err.hint = (err.hint + " " if err.hint else "") + "Runbooks: " + ", ".join(self.catalog.names())
            raise err
        return rb

    def parse(self, text: str) -> Invocation:
        """Tokenise and bind ``text`` to its runbook (syntax and types only; no cluster access)."""
        line = tokenize(text)
        if line.tokens and self.catalog.get(f"{line.runbook} {line.tokens[0]}") is not None:
            # A two-word alias names a sub-form: `etcd-backup list` is the runbook etcd-backup-list.
            line.runbook, line.tokens = f"{line.runbook} {line.tokens[0]}", line.tokens[1:]
        rb = self.find_runbook(line.runbook)
        return bind(line, rb)

    def prepare(
        self,
        text: str,
        requester: Requester,
        channel: str | None = None,
        progress: Callable[[str], None] | None = None,
        *,
        run_id: str | None = None,
        approvers: Sequence[str] = (),
    ) -> PreparedRun:
        """Parse, resolve against the cluster and plan every step. Changes nothing.

        ``run_id`` re-plans an existing run (at execution, to re-resolve its targets).
        """
        inv = self.parse(text)
        cluster = inv.cluster or self.settings.cluster_for_channel(channel)
        if cluster not in self.settings.clusters:
            raise NotFoundError("cluster", cluster, closest(cluster, self.settings.clusters))
        cs = self.settings.clusters[cluster]
        namespace = inv.namespace or cs.default_namespace
        run_id = run_id or new_ref()
        kube = self.access_for(cluster, requester, run_id, approvers)
        ctx = StepContext(
            run_id=run_id,
            cluster=cluster,
            namespace=namespace,
            requester=requester,
            kube=kube,
            catalog=self,
            namespace_explicit=inv.namespace is not None,
            store=self.store,
            settings=self.settings,
            cloud=self.cloud,
            clock=self.clock,
        )
        if progress is not None:
            ctx.progress = progress
        values = self._resolve(inv, kube, namespace, cluster)
        values.update({"namespace": namespace, "cluster": cluster})
        planned = []
        for call_ in inv.runbook.steps:
            step = self.registry.get(call_.step)
            if step is None:  # the catalog was validated against this registry
                raise BotError(f"runbook {inv.runbook.name}: step {call_.step} is not registered")
            args = substitute(call_.args, values)
            try:
                params = step.Params.model_validate(args)
            except ValidationError as exc:
                first = exc.errors(include_url=False, include_input=False)[0]
                raise UserError(f"{call_.step}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
            with translated_api_errors(cluster):
                plan = step.plan(ctx, params)
            planned.append(PlannedStep(step, params, plan))
        run = PreparedRun(run_id, inv.runbook, cluster, namespace, requester, values, planned, ctx)
        run.permissions = list(dict.fromkeys(p for s in planned for p in s.plan.permissions))
        run.plan_hash = plan_hash(run.runbook.name, run.cluster, run.namespace, run.values, run.steps)
        return run

    def authorize(self, run: PreparedRun) -> None:
        """Ask the cluster's RBAC for every permission of the plan; DeniedError names what is missing."""
        if not run.requester.impersonates or not run.permissions:
            return
        missing = self.missing_permissions(run.cluster, run.requester, run.permissions)
        if missing:
            raise self.denial(run.requester, run.cluster, missing)

    @staticmethod
    def denial(requester: Requester, cluster: str, missing: Sequence[Permission]) -> DeniedError:
        """The refusal naming every permission ``requester`` lacks on ``cluster``."""
        listed = " and ".join(p.describe() for p in missing)
        return DeniedError(
            f"{requester.kube_user} may not {listed} on cluster {cluster}",
            hint="ask for a RoleBinding that grants it; the bot never does more than your RBAC allows",
        )

    def permissions_without_plan(self, text: str, channel: str | None) -> tuple[str, list[Permission]]:
        """The cluster and every permission a command needs, known without reading the cluster.

        Used when planning was refused (the requester may not even read the target): resolving the
        parameters and each step's target-independent permissions, so the answer names them all.
        """
        inv = self.parse(text)
        cluster = inv.cluster or self.settings.cluster_for_channel(channel)
        namespace = inv.namespace or self.settings.clusters[cluster].default_namespace
        perms: list[Permission] = []
        for name, value in inv.values.items():
            if value is not None:
                perms += resolution_permissions(inv.runbook.params[name], value, namespace)
        texts: dict[str, Any] = {**inv.values, "namespace": namespace, "cluster": cluster}
        for call_ in inv.runbook.steps:
            step = self.registry.get(call_.step)
            if step is None:
                continue
            try:
                params = step.Params.model_validate(substitute(call_.args, texts))
            except ValidationError:
                params = None
            perms += step.static_permissions(params)
        return cluster, list(dict.fromkeys(perms))

    def execute(self, run: PreparedRun) -> Report:
        """Run every planned step in order; the last report wins (read runbooks have one step)."""
        report: Report | None = None
        for ps in run.steps:
            with translated_api_errors(run.cluster):
                out = ps.step.run(run.context, ps.params)
            if out is not None:
                report = out
        if report is None:
            report = Report(title=f"{run.runbook.name} finished", tone=Tone.OK)
        report.context.append(f"cluster {run.cluster} · run {run.run_id}")
        return report

    def _resolve(self, inv: Invocation, kube: KubeAccess, namespace: str, cluster: str) -> dict[str, Any]:
        resolver = KubeResolver(kube)
        out: dict[str, Any] = {}
        for name, value in inv.values.items():
            spec: ParamSpec = inv.runbook.params[name]
            if value is None:
                out[name] = None
            elif spec.type == "runbook":
                out[name] = self.find_runbook(value).name
            else:
                with translated_api_errors(cluster):
                    out[name] = resolve_value(spec, value, resolver, namespace)
        return out


def error_report(exc: BaseException, ref: str) -> Report:
    """What the user sees for a failure: the reason (and what to do), and a reference only when unexpected.

    A ``ref`` helps an operator find a failure nobody explained in the logs; an error that says
    what happened and what to do (``EXPLAINED``: bad input, a refusal, a cluster that cannot be
    used) needs none.
    """
    if isinstance(exc, UserError):
        title = (
            "Not allowed"
            if isinstance(exc, DeniedError)
            else ("Cannot read that command" if isinstance(exc, ParseError) else "Cannot do that")
        )
        report = Report(title=title, tone=Tone.ERROR, summary=exc.message)
        if exc.hint:
            report.section().lines.append(exc.hint)
        return report
    if isinstance(exc, EXPLAINED):
        title = "Cluster unreachable" if isinstance(exc, ClusterUnreachableError) else "Cluster unavailable"
        return Report(title=title, tone=Tone.ERROR, summary=str(exc))
    if isinstance(exc, BotError):
        report = Report(title="The run failed", tone=Tone.ERROR, summary=str(exc))
        report.context.append(f"ref {ref}")
        return report
    return Report(
        title="Something went wrong",
        tone=Tone.ERROR,
        summary=f"An internal error occurred; the operator can find it in the logs under ref {ref}.",
        context=[f"ref {ref}"],
    )


__all__ = ["Engine", "PreparedRun", "error_report", "new_ref", "parse_value", "plan_hash"]
