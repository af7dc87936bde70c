"""``workloads.logs``: recent log lines of a pod or a workload's pods, as the requester, redacted.

The API server's ``pods/log`` (proxied to the node's kubelet) is read with the requester's
identity, so RBAC's ``get pods/log`` decides. Obvious secrets are redacted (``redact``). Short
output is shown in the message; longer output becomes an attachment (Slack uploads it as a
file, the shell saves it) with its last lines in the message.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from bot.clients.api_errors import explain_api_error
from bot.errors import NotFoundError, UserError
from bot.kube_facts import controller_workload
from bot.model import ObjectRef, Permission, WorkloadRef
from bot.report import Attachment, Report, Tone
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.resolve import KubeResolver, closest
from bot.steps.workloads.objects import Obj, perm, read_workload
from bot.steps.workloads.redact import redact_text

KINDS = {
    "deployment": "Deployment",
    "deploy": "Deployment",
    "statefulset": "StatefulSet",
    "sts": "StatefulSet",
    "daemonset": "DaemonSet",
    "ds": "DaemonSet",
    "pod": "Pod",
    "po": "Pod",
}
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
SHOWN_WITH_FILE = 15


class LogsParams(BaseModel):
    """What to read: ``pod``, ``kind/name`` or a workload name; how many lines; which container."""

    model_config = ConfigDict(extra="forbid")
    target: str = Field(
        pattern=r"^([a-z]+/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        max_length=260,
        description="a pod, or a workload (deployment/NAME…) whose newest pod to read",
    )
    namespace: str = Field(description="the namespace")
    tail: int = Field(default=100, ge=1, le=100_000, description="how many of the last lines")
    container: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="the container (default: the pod's only or first one)",
    )
    previous: bool = Field(False, description="the previous (crashed) instance of the container")


@dataclass(frozen=True)
class Source:
    """One pod and the container to read."""

    pod: str
    container: str = Field(description="the container (default: the pod's only or first one)")
    note: str = ""


def pick_container(pod: Obj, wanted: str | None) -> tuple[str, str]:
    """The container to read and a note when there was a choice; UserError for an unknown one."""
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    names += [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
    pod_name = pod["metadata"]["name"]
    if wanted is not None:
        if wanted not in names:
            raise UserError(f"pod {pod_name} has no container `{wanted}`", hint=f"its containers: {', '.join(names)}")
        return wanted, ""
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    chosen = str(default) if default in names else names[0]
    main = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    others = ", ".join(n for n in main if n != chosen)
    note = f"pod {pod_name}: showing container {chosen} (also: {others}; use --container)" if len(main) > 1 else ""
    return chosen, note


class PodLogs(Step[LogsParams]):
    """Recent lines of a pod's or workload's logs, secrets redacted, long output as a file."""

    name = "workloads.logs"
    Params = LogsParams
    summary = "recent log lines of a pod or workload"

    def static_permissions(self, params: LogsParams | None) -> list[Permission]:
        return [Permission(verb="get", resource="pods", subresource="log")]

    def _sources(self, ctx: StepContext, params: LogsParams) -> tuple[list[Source], WorkloadRef | None]:
        assert ctx.settings is not None
        kind_word, _, name = params.target.rpartition("/")
        kind = KINDS.get(kind_word.lower()) if kind_word else None
        if kind_word and kind is None:
            raise UserError(
                f"`{kind_word}` is not a pod or workload kind", hint="use pod/, deployment/, statefulset/ or daemonset/"
            )
        core, ns = ctx.kube.core, params.namespace
        if kind in (None, "Pod"):
            try:
                pod = ctx.kube.api_client.sanitize_for_serialization(
                    core.read_namespaced_pod(name, ns, _request_timeout=ctx.kube.timeout)
                )
                return [Source(name, *pick_container(pod, params.container))], None
            except ApiException as exc:
                if exc.status != 404 or kind == "Pod":
                    raise
        try:
            ref = KubeResolver(ctx.kube).workload(ns, kind, name)
        except NotFoundError:
            pods = [p["metadata"]["name"] for p in ctx.kube.list_raw(core.list_namespaced_pod, namespace=ns)]
            raise NotFoundError("pod or workload", name, closest(name, pods), where=f"in namespace {ns}") from None
        workload = read_workload(ctx.kube, ref)
        selector = (workload.get("spec") or {}).get("selector") or {}
        labels = ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items())
        pods = [
            p
            for p in ctx.kube.list_raw(core.list_namespaced_pod, namespace=ns, label_selector=labels or None)
            if controller_workload(p) == (ref.kind, ref.name)
        ]
        if not pods:
            raise UserError(f"{ref} has no pods right now", hint="nothing to read")
        pods.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
        limit = ctx.settings.workloads.logs.max_pods
        return [Source(p["metadata"]["name"], *pick_container(p, params.container)) for p in pods[:limit]], ref

    def plan(self, ctx: StepContext, params: LogsParams) -> StepPlan:
        assert ctx.settings is not None
        max_tail = ctx.settings.workloads.logs.max_tail
        if params.tail > max_tail:
            raise UserError(
                f"--tail {params.tail} is more than the {max_tail} lines allowed", hint=f"use --tail {max_tail} or less"
            )
        sources, ref = self._sources(ctx, params)
        ns = params.namespace
        perms = [Permission(verb="get", resource="pods", subresource="log", namespace=ns, name=s.pod) for s in sources]
        if ref is not None:
            perms = [perm("get", ref), Permission(verb="list", resource="pods", namespace=ns), *perms]
        else:
            perms.insert(0, Permission(verb="get", resource="pods", namespace=ns, name=sources[0].pod))
        which = "previous " if params.previous else ""
        return StepPlan(
            description=f"read the last {params.tail} lines of the {which}logs of {params.target} in {ns}",
            targets=[ObjectRef(kind="Pod", name=s.pod, namespace=ns) for s in sources],
            permissions=perms,
        )

    def run(self, ctx: StepContext, params: LogsParams) -> Report:
        assert ctx.settings is not None
        sources, ref = self._sources(ctx, params)
        lines: list[str] = []
        redacted = 0
        for source in sources:
            text = self._read(ctx, params, source)
            clean, n = redact_text(text)
            redacted += n
            prefix = f"[{source.pod}] " if ref is not None else ""
            lines += [prefix + line for line in clean.splitlines()]
        return logs_report(
            params,
            sources,
            lines,
            redacted,
            ctx.settings.workloads.logs.inline_lines,
            ctx.settings.workloads.logs.inline_chars,
        )

    @staticmethod
    def _read(ctx: StepContext, params: LogsParams, source: Source) -> str:
        try:
            resp = ctx.kube.core.read_namespaced_pod_log(
                source.pod,
                params.namespace,
                container=source.container,
                tail_lines=params.tail,
                previous=params.previous,
                _preload_content=False,
                _request_timeout=ctx.kube.timeout,
            )
        except ApiException as exc:
            if exc.status in (400, 404):
                raise UserError(f"cannot read the logs of pod {source.pod}: {explain_api_error(exc)}") from None
            raise
        data: bytes = resp.data
        return data.decode("utf-8", errors="replace")


def logs_report(
    params: LogsParams, sources: list[Source], lines: list[str], redacted: int, inline_lines: int, inline_chars: int
) -> Report:
    """The lines in the message when short; otherwise the last few, with the whole output attached."""
    which = "previous " if params.previous else ""
    report = Report(
        title=f"Logs of {params.target} ({params.namespace})",
        summary=f"{len(lines)} line{'s' if len(lines) != 1 else ''} of the {which}logs of "
        + ", ".join(f"{s.pod}/{s.container}" for s in sources)
        + (f"; {redacted} secret{'s' if redacted != 1 else ''} redacted" if redacted else ""),
        tone=Tone.INFO,
    )
    fits = len(lines) <= inline_lines and sum(len(x) + 1 for x in lines) <= inline_chars
    shown = lines if fits else lines[-SHOWN_WITH_FILE:]
    report.section("Last lines" if not fits else f"Last {len(shown)} of {len(lines)} lines").lines = shown or [
        "(no output)"
    ]
    notes = [s.note for s in sources if s.note]
    if notes:
        report.section("Containers").lines = notes
    if not fits:
        safe = params.target.replace("/", "-")
        report.attachments.append(
            Attachment(
                filename=f"{params.namespace}-{safe}-logs.txt",
                content="\n".join(lines) + "\n",
                title=f"Logs of {params.target} ({len(lines)} lines)",
            )
        )
        report.context.append(f"the full output ({len(lines)} lines) is attached as a file")
    return report
