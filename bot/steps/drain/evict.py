"""``kubernetes.evict_pods``: kubectl drain's eviction half, PDB-aware, parallel, abortable.

The node is cordoned by the step before it (``kubernetes.cordon``). Pods are filtered as kubectl
does (see ``filters``); a refusal stops before the first eviction and leaves the node cordoned.
Evictions go through policy/v1 in parallel; a 429 (a PodDisruptionBudget says no) waits for that
PDB to allow a disruption (watched), a 500 (pod under two PDBs) fails that pod naming both, and a
pod counts as gone when it is deleted or its UID changed. Other 5xx, throttling and broken connections
are retried with backoff (``eviction``: an eviction is never sent twice); a drain that stops
part-way says how many pods it evicted and which remain (``account``).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field

from bot.clients.api_errors import explain_api_error
from bot.clients.retry import bounded_by, describe
from bot.clients.retry import classify as fault_of
from bot.errors import AbortedError, PermanentError
from bot.model import ObjectRef, Permission
from bot.report import Report, Tone
from bot.selectors import label_selector_matches
from bot.steps.arguments import Duration
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.drain.account import clipped, drain_account, still_on_node
from bot.steps.drain.eviction import Evicted, PodEviction, disruption_budget_refusal, under_two_budgets
from bot.steps.drain.filters import DrainOptions, Obj, PodVerdicts, classify, controller_of, pod_key
from bot.steps.drain.own_pod import own_pod_warning
from bot.steps.drain.pdb_gate import PdbGate, pdbs_snapshot
from bot.steps.drain.progress import DrainProgress
from bot.steps.drain.tracker import GoneTracker

log = logging.getLogger("bot.drain")
MAX_PARALLEL = 32
LISTED = 30


class EvictParams(BaseModel):
    """kubectl drain's flags."""

    model_config = ConfigDict(extra="forbid")
    node: str = Field(description="the node whose pods to evict")
    force: bool = Field(False, description="also evict pods without a controller and orphaned DaemonSet pods")
    delete_emptydir_data: bool = Field(False, description="also evict pods using emptyDir (their local data is lost)")
    ignore_daemonsets: bool = Field(True, description="leave DaemonSet pods in place (false: refuse to drain them)")
    timeout: Duration = Field(
        default=timedelta(minutes=10), gt=timedelta(0), le=timedelta(hours=6), description="overall time limit"
    )
    grace_period: int | None = Field(
        default=None, ge=0, le=3600, description="seconds each pod gets to terminate (default: the pod's own)"
    )

    def options(self) -> DrainOptions:
        """The filter options."""
        return DrainOptions(self.force, self.delete_emptydir_data, self.ignore_daemonsets)


def _refusal(exc: ApiException, covering: list[Obj]) -> str:
    """Why the API server refused an eviction for good (two PDBs, or its own message)."""
    if under_two_budgets(exc):
        return f"covered by more than one PodDisruptionBudget ({', '.join(p['metadata']['name'] for p in covering)})"
    return explain_api_error(exc) + (" (retried until the timeout)" if fault_of(exc) else "")


def _list_pods(ctx: StepContext, node: str) -> list[Obj]:
    return list(ctx.kube.list_raw(ctx.kube.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node}"))


def _classify(ctx: StepContext, params: EvictParams, pods: list[Obj]) -> PodVerdicts:
    apps = ctx.kube.apps

    def ds_exists(ns: str, name: str) -> bool:
        try:
            apps.read_namespaced_daemon_set(name, ns, _request_timeout=ctx.kube.timeout)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    return classify(pods, params.options(), ds_exists)


class EvictPods(Step[EvictParams]):
    """Evict every pod of a node that kubectl drain would, respecting PodDisruptionBudgets."""

    name = "kubernetes.evict_pods"
    Params = EvictParams
    summary = "evict a node's pods (kubectl drain semantics)"
    permissions_note = (
        "the plan asks them per namespace of the pods it evicts: create pods/eviction, list and watch "
        "poddisruptionbudgets; also watch pods, and get daemonsets where DaemonSet pods are skipped"
    )

    def static_permissions(self, params: EvictParams | None) -> list[Permission]:
        return [
            Permission(verb="list", resource="pods"),
            Permission(verb="create", resource="pods", subresource="eviction"),
        ]

    def plan(self, ctx: StepContext, params: EvictParams) -> StepPlan:
        node = ctx.kube.core.read_node(params.node, _request_timeout=ctx.kube.timeout)
        verdicts = _classify(ctx, params, _list_pods(ctx, params.node))
        namespaces = {p["metadata"]["namespace"] for p in verdicts.evict}
        pdbs = pdbs_snapshot(ctx.kube, namespaces)
        plan = StepPlan(
            description=f"evict {len(verdicts.evict)} pod(s) from node {params.node} "
            f"(timeout {int(params.timeout.total_seconds())}s"
            + (f", grace period {params.grace_period}s" if params.grace_period is not None else "")
            + ")",
            targets=[
                ObjectRef(kind="Pod", name=p["metadata"]["name"], namespace=p["metadata"]["namespace"])
                for p in verdicts.evict
            ],
            permissions=self._permissions(namespaces, verdicts),
            fingerprint={"node_uid": node.metadata.uid, "refused": sorted(pod_key(p) for p, _ in verdicts.refused)},
            mutates=bool(verdicts.evict),
        )
        keys = [pod_key(p) for p in verdicts.evict]
        plan.details = [f"evict {k}" for k in keys[:LISTED]] + (
            [f"… and {len(keys) - LISTED} more"] if len(keys) > LISTED else []
        )
        plan.details += [f"skip {pod_key(p)}: {why}" for p, why in verdicts.skipped[:10]]
        if verdicts.refused:
            plan.warnings += [
                "the drain will STOP after cordoning (nothing evicted) because: "
                + "; ".join(f"{pod_key(p)} {why}" for p, why in verdicts.refused)
            ]
        plan.warnings += verdicts.warnings
        own = own_pod_warning(params.node, verdicts, ctx.settings)  # the bot's own pod is on this node
        plan.warnings += [own] if own else []
        for pdb in pdbs:
            covered = [
                p
                for p in verdicts.evict
                if p["metadata"]["namespace"] == pdb["metadata"]["namespace"]
                and label_selector_matches(pdb["spec"].get("selector"), p["metadata"].get("labels") or {})
            ]
            if not covered:
                continue
            allowed = int((pdb.get("status") or {}).get("disruptionsAllowed", 0) or 0)
            name = f"{pdb['metadata']['namespace']}/{pdb['metadata']['name']}"
            if allowed == 0:
                plan.warnings.append(
                    f"PDB {name} allows 0 disruptions now: {len(covered)} pod(s) will wait for "
                    "replacements to become Ready"
                )
            else:
                plan.details.append(f"PDB {name} throttles {len(covered)} pod(s) to {allowed} at a time")
        for pod in verdicts.evict:
            matching = [
                p["metadata"]["name"]
                for p in pdbs
                if p["metadata"]["namespace"] == pod["metadata"]["namespace"]
                and label_selector_matches(p["spec"].get("selector"), pod["metadata"].get("labels") or {})
            ]
            if len(matching) > 1:
                plan.warnings.append(
                    f"{pod_key(pod)} is covered by several PDBs ({', '.join(matching)}): the API refuses to evict it"
                )
        return plan

    @staticmethod
    def _permissions(namespaces: set[str], verdicts: PodVerdicts) -> list[Permission]:
        perms = [Permission(verb="list", resource="pods"), Permission(verb="watch", resource="pods")]
        for ns in sorted(namespaces):
            perms += [
                Permission(verb="create", resource="pods", subresource="eviction", namespace=ns),
                Permission(verb="list", resource="poddisruptionbudgets", group="policy", namespace=ns),
                Permission(verb="watch", resource="poddisruptionbudgets", group="policy", namespace=ns),
            ]
        ds_namespaces = {
            p["metadata"]["namespace"]
            for p, _ in verdicts.skipped
            if (controller_of(p) or {}).get("kind") == "DaemonSet"
        }
        perms += [
            Permission(verb="get", resource="daemonsets", group="apps", namespace=ns) for ns in sorted(ds_namespaces)
        ]
        return perms

    def run(self, ctx: StepContext, params: EvictParams) -> Report:
        started = time.monotonic()
        deadline = started + params.timeout.total_seconds()
        verdicts = _classify(ctx, params, _list_pods(ctx, params.node))
        if verdicts.refused:
            listed = "; ".join(f"{pod_key(p)} {why}" for p, why in verdicts.refused)
            raise PermanentError(f"drain refused before any eviction (node {params.node} stays cordoned): {listed}")
        if not verdicts.evict:
            return Report(title=f"Node {params.node} drained: nothing to evict", tone=Tone.OK)
        stop = threading.Event()
        progress = DrainProgress(total=len(verdicts.evict))
        tracker: GoneTracker | None = None
        gate: PdbGate | None = None

        def close_all() -> None:
            for waiter in (gate, tracker):
                if waiter is not None:
                    waiter.close()

        def watch_abort() -> None:
            while not stop.is_set():
                if ctx.abort.wait(0.2):
                    stop.set()
                    close_all()
                    return

        try:
            tracker = GoneTracker(ctx.kube, params.node, stop)
            gate = PdbGate(ctx.kube, {p["metadata"]["namespace"] for p in verdicts.evict}, stop)
            threading.Thread(target=watch_abort, name="drain-abort", daemon=True).start()
            with ThreadPoolExecutor(
                max_workers=min(MAX_PARALLEL, len(verdicts.evict)), thread_name_prefix="evict"
            ) as pool:
                futures = [
                    pool.submit(self._evict_one, ctx, params, pod, gate, tracker, progress, deadline, stop)
                    for pod in verdicts.evict
                ]
                keys = [pod_key(p) for p in verdicts.evict]
                told = -1
                while not all(f.done() for f in futures):
                    ctx.progress(progress.line())
                    if progress.evicted != told:  # the run's account, kept for failure and recovery reports
                        told = progress.evicted
                        ctx.account(*progress.account(params.node, keys))
                    time.sleep(0.5)
                for f in futures:
                    f.result()
        finally:
            aborted = ctx.abort.is_set()
            stop.set()  # also ends the watches when setting them up failed half-way
            close_all()
        took = time.monotonic() - started
        if not aborted and not progress.failed:
            ctx.account(*progress.account(params.node, [pod_key(p) for p in verdicts.evict]))
            return Report(
                title=f"Node {params.node} drained: evicted {progress.evicted} pods in {took:.1f}s", tone=Tone.OK
            )
        # The account: evictions counted as they were accepted; what is left from a fresh list of the node.
        remaining, fresh = still_on_node(
            ctx, params.node, verdicts.evict, tracker.gone if tracker else lambda _u: False
        )
        ctx.account(*drain_account(params.node, progress.evicted_pods(), progress.total, remaining, fresh))
        if aborted:
            raise AbortedError(
                f"aborted after {took:.0f}s: evicted {progress.evicted}/{progress.total} pods; "
                f"no further evictions were made. Node {params.node} stays cordoned."
            )
        failures = [f"{k}: {why}" for k, why in sorted(progress.failed.items())]
        raise PermanentError(
            f"evicted {progress.evicted}/{progress.total} pods; failed: {clipped(failures, 10, '; ')}. "
            f"Node {params.node} stays cordoned."
        )

    @staticmethod
    def _evict_one(
        ctx: StepContext,
        params: EvictParams,
        pod: Obj,
        gate: PdbGate,
        tracker: GoneTracker,
        progress: DrainProgress,
        deadline: float,
        stop: threading.Event,
    ) -> None:
        key, uid = pod_key(pod), pod["metadata"]["uid"]
        eviction = PodEviction(ctx.kube, pod, params.grace_period)  # retried; never sent twice (drain/eviction.py)
        while not stop.is_set():
            if time.monotonic() >= deadline:
                progress.fail(key, f"timed out after {int(params.timeout.total_seconds())}s")
                return
            try:
                with bounded_by(deadline=deadline, abort=stop):  # nested reads stop with the drain too
                    outcome = eviction.run(deadline, stop)
            except ApiException as exc:
                if disruption_budget_refusal(exc):  # 429: a PDB says no; wait until it allows a disruption
                    progress.wait_on(key, gate.covering(pod))
                    gate.wait_for_disruption(pod, deadline)
                    continue
                if not stop.is_set():
                    progress.fail(key, _refusal(exc, gate.covering(pod)))
                return
            except Exception as exc:
                if not stop.is_set():
                    if fault_of(exc) is None:
                        log.exception("unexpected failure evicting %s", key)
                    progress.fail(key, f"the API server could not be reached until the timeout ({describe(exc)})")
                return
            if outcome is Evicted.ACCEPTED:
                progress.accepted(key)
            break
        with progress.lock:
            progress.waiting.pop(key, None)
        if stop.is_set() and not tracker.gone(uid):
            return
        if not tracker.wait_gone(uid, deadline) and not stop.is_set():
            with progress.lock:
                progress.failed[key] = f"evicted but still present after {int(params.timeout.total_seconds())}s"
