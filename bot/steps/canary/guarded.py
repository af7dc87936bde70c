"""``canary <app> 90/10 --step 10 --every 5m --until 50/50``: a guarded progression, planned and run.

The plan shows every stage and when it is due, what the guard watches, and checks the first and
last stages' writes with a server-side dry run. Its fingerprint — what the approval binds and what
execution compares — is the route (its UID and rules), the two backends, the canary's pods and the
stages; **not the weights stored now**, which the progression itself changes: so a run resumed by
another replica after its owner died still matches its approved plan, while a route replaced or
restructured since (another UID, other rules or backends) stops it with "the plan changed".

Running it, each stage is stored before and after its write (``CanaryProgression``): a process that
takes the run over finishes the stage being applied (no write if it is already in place) and
carries on from there, so no stage is applied twice. Between stages the step polls the run's
clock (``ctx.clock``), its Pause (``ctx.hold``), its abort flag and the pod guard every few hundred
ms. The last stage is watched for ``every`` too before the run succeeds. A guard trip sends 100% to
stable and fails the run with the reason; Abort does the same and ends it aborted. A stage whose
route is no longer where the progression left it (someone changed the weights by hand) stops the
run without writing.
"""

from __future__ import annotations

from typing import NoReturn

from bot.durations import human_duration
from bot.errors import AbortedError, PermanentError, UserError
from bot.model import Weights
from bot.steps.base import StepContext, StepPlan
from bot.steps.canary.driver import Driver, Proposal, Split, Target, change_lines
from bot.steps.canary.pod_guard import CanaryPods, PodGuard, find_canary_pods, pod_trouble, restarts
from bot.steps.canary.progression import CanaryProgression, Stages
from bot.steps.dry_run import DRY_RUN, server_dry_run

POLL_SECONDS = 0.3
STABLE = Weights(100, 0)
OWN_PROGRESSION = {
    "argo": "Argo Rollouts advances the weights by the Rollout's own steps; use them (and `canary {app} promote`)",
    "flagger": "Flagger advances the weights by its analysis (stepWeight up to maxWeight); let it",
}


def _dry_run_writes(ctx: StepContext, plan: StepPlan, proposals: list[Proposal]) -> None:
    seen: set[str] = set()
    for proposal in proposals:
        for write in proposal.writes:
            key = write.what + repr(proposal.after)
            if key in seen:
                continue
            seen.add(key)
            server_dry_run(plan, write.what, lambda w=write: w.submit(ctx.kube, DRY_RUN))  # type: ignore[misc]


def _pod_warnings(ctx: StepContext, pods: CanaryPods) -> list[str]:
    listed = ctx.kube.list_raw(
        ctx.kube.core.list_namespaced_pod, namespace=pods.namespace, label_selector=pods.label_query() or None
    )
    now = [p for p in listed if pods.matches(p)]
    if not now:
        return [f"the canary has no pods now ({pods.describe()}): traffic sent to it would fail"]
    as_now = {p["metadata"]["uid"]: restarts(p) for p in now}  # past restarts are the guard's baseline
    troubled = [t for p in now if (t := pod_trouble(p, as_now, 0.0, 1.0))]
    return [f"{t}: the progression would roll back at once" for t in troubled]


def plan_progression(
    ctx: StepContext, app: str, target: Target, driver: Driver, split: Split, stages: Stages, found: str
) -> StepPlan:
    """The plan of a progression: every stage with its due time, the guard, the dry-run writes."""
    if target.router in OWN_PROGRESSION:
        raise UserError(
            f"{app} is driven by {target.router}: the bot does not run a progression against its controller",
            hint=OWN_PROGRESSION[target.router].format(app=app),
        )
    assert ctx.settings is not None
    pods, pod_reads = find_canary_pods(ctx.kube, target)
    first = driver.propose(ctx.kube, target, split, "set", stages.splits[0])
    last = driver.propose(ctx.kube, target, split, "set", stages.splits[-1])
    back = driver.propose(ctx.kube, target, split, "abort", STABLE)
    writes = [p for proposal in (first, last, back) for w in proposal.writes for p in w.permissions]
    unready = ctx.settings.canary.unready_after
    env = ctx.settings.clusters[ctx.cluster].environment
    plan = StepPlan(
        description=(
            f"canary {app}: {stages.splits[0]} → {stages.splits[-1]} in {stages.total} stages, one every "
            f"{_every(stages)}, guarded: {found}"
        ),
        details=[
            *change_lines(first.before, first.after, str(target.stable), str(target.canary)),
            *stages.schedule(ctx.clock()),
            f"the last stage is watched for {_every(stages)} too, then the run succeeds",
            f"guard: {pods.describe()} — a restart, CrashLoopBackOff, Error or ImagePullBackOff, or a pod unready "
            f"for more than {int(unready.total_seconds())}s sends 100% back to stable ({target.stable}) at once "
            "and fails the run",
            "Pause holds the current weights until Resume; Abort sends 100% back to stable",
            *first.details,
        ],
        warnings=list(dict.fromkeys([*first.warnings, *last.warnings, *_pod_warnings(ctx, pods)])),
        targets=[split.obj],
        permissions=list(dict.fromkeys([*driver.read_permissions(target), *pod_reads, *pods.permissions(), *writes])),
        fingerprint={
            "router": target.router,
            "route": target.route,
            "uid": split.fingerprint.get("uid"),
            "rules": [r.where for r in split.rules],
            "stable": str(target.stable),
            "canary": str(target.canary),
            "pods": [pods.source, pods.selector],
            "stages": stages.texts(),
            "every": stages.every.total_seconds(),
        },
        mutates=True,
        risk="destructive" if env in ctx.settings.canary.destructive_environments else None,
        resumable=True,
        pausable=True,
    )
    _dry_run_writes(ctx, plan, [first, last])
    return plan


def _every(stages: Stages) -> str:
    return human_duration(stages.every)


class GuardedProgression:
    """Runs (or resumes) one progression: stages, waits, the guard, Pause, Abort and rollback."""

    def __init__(self, ctx: StepContext, app: str, target: Target, driver: Driver, stages: Stages) -> None:
        self.ctx = ctx
        self.app = app
        self.target = target
        self.driver = driver
        self.stages = stages
        assert ctx.settings is not None
        self.unready_after = ctx.settings.canary.unready_after.total_seconds()

    def run(self) -> Split:
        """Every stage in turn (from the stored one when resumed); the split as stored at the end."""
        pods, _ = find_canary_pods(self.ctx.kube, self.target)
        guard = PodGuard(self.ctx.kube, pods, self.unready_after).start()
        try:
            state = self.ctx.artifacts.get(CanaryProgression) or self._begin(guard)
            self._settled(state)
            if state.status == "applying":  # the process that was applying it stopped: finish that stage
                self._apply(state, state.stage, guard)
            while True:
                self._wait(state, guard)
                if state.stage == state.total:
                    break
                self._apply(state, state.stage + 1, guard)
            state.status = "done"
            self._keep(state)
            return self.driver.read(self.ctx.kube, self.target)
        finally:
            guard.stop()

    # -- state ------------------------------------------------------------------------------------
    def _begin(self, guard: PodGuard) -> CanaryProgression:
        state = CanaryProgression(
            stages=self.stages.texts(),
            every_seconds=self.stages.every.total_seconds(),
            status="applied",
            next_at=self.ctx.clock(),
            baseline=guard.restart_counts(),
        )
        self._keep(state)
        return state

    def _keep(self, state: CanaryProgression, *extra_done: str) -> None:
        """Store the state and the step's account (what was and was not done, for any outcome)."""
        self.ctx.artifacts.put(state)
        self.ctx.account([*state.applied(), *extra_done], state.pending())

    def _settled(self, state: CanaryProgression) -> None:
        """A progression that had already ended (its owner died before the run did) ends the same way again."""
        if state.status == "rolled_back":
            self._roll_back(state, state.reason)
        if state.status == "aborted":
            self._stop(state)

    # -- waiting ----------------------------------------------------------------------------------
    def _wait(self, state: CanaryProgression, guard: PodGuard) -> None:
        """Until the next stage is due and not paused; the guard, abort and Pause are checked every poll."""
        shown = ""
        while True:
            if self.ctx.abort.is_set():
                self._stop(state)
            trouble = guard.trouble(state.baseline)
            if trouble:
                self._roll_back(state, trouble)
            hold = self.ctx.hold()
            paused = bool(hold and hold.paused)
            if paused != state.paused:
                state.paused = paused
                self._keep(state)
            now = self.ctx.clock()
            if state.stage and state.line(now) != shown:
                shown = state.line(now)
                self.ctx.progress(shown)
            if not paused and state.next_at is not None and now >= state.next_at:
                return
            self.ctx.abort.wait(POLL_SECONDS)

    # -- acting -----------------------------------------------------------------------------------
    def _apply(self, state: CanaryProgression, stage: int, guard: PodGuard) -> None:
        """Stored as applying, written, stored as applied (with the next stage's due time)."""
        if not self.ctx.owns_run():
            self._stop(state)
        split = self.driver.read(self.ctx.kube, self.target)
        expected = [self.stages.splits[stage - 2]] if stage > 1 else []  # stage 1 starts from whatever is there
        if expected and state.status == "applying":
            expected.append(self.stages.splits[stage - 1])
        if expected and not any(self._at(split, w) for w in expected):
            state.reason = f"the weights are {split.rules[0].split_text()}, not {' or '.join(map(str, expected))}"
            self._keep(state)
            raise PermanentError(
                f"the weights were changed outside this progression ({state.reason}): it stopped at stage "
                f"{state.stage}/{state.total} without changing them"
            )
        target = self.stages.splits[stage - 1]
        state.stage, state.status, state.weights = stage, "applying", str(target)
        self._keep(state)
        proposal = self.driver.propose(self.ctx.kube, self.target, split, "set", target)
        for write in proposal.writes:
            write.submit(self.ctx.kube, None)
        now = self.ctx.clock()
        state.status, state.applied_at, state.next_at = "applied", now, now + self.stages.every
        self._keep(state)
        self.ctx.progress(state.line())

    def _at(self, split: Split, weights: Weights) -> bool:
        """Is the route at ``weights`` now (setting them would write nothing)?"""
        return not self.driver.propose(self.ctx.kube, self.target, split, "set", weights).writes

    def _to_stable(self) -> str | None:
        """Send 100% to stable; None when done, else why it could not be done."""
        try:
            split = self.driver.read(self.ctx.kube, self.target)
            for write in self.driver.propose(self.ctx.kube, self.target, split, "abort", STABLE).writes:
                write.submit(self.ctx.kube, None)
        except Exception as exc:  # noqa: BLE001 - any failure is reported with the run's outcome, never swallowed
            return str(exc) or type(exc).__name__
        return None

    def _roll_back(self, state: CanaryProgression, trouble: str) -> NoReturn:
        failed = self._to_stable()
        state.status, state.reason = "rolled_back", trouble
        if failed:
            self._keep(state)
            raise PermanentError(
                f"{trouble}; rolling back to stable FAILED ({failed}): traffic may still be at {state.weights} — "
                f"run `canary {self.app} abort`"
            )
        self._keep(state, f"rolled back to stable ({STABLE}) because {trouble}")
        raise PermanentError(f"rolled back to stable: {trouble}")

    def _stop(self, state: CanaryProgression) -> NoReturn:
        """Abort: by a person → 100% back to stable; because this process stops → leave it for the next owner."""
        where = f"stage {state.stage}/{state.total} ({state.weights or 'not started'})"
        if self.ctx.handing_over():
            raise AbortedError(f"stopped at {where} without changing anything; the run resumes from there")
        failed = self._to_stable()
        state.status = "aborted"
        if failed:
            self._keep(state)
            raise AbortedError(
                f"stopped at {where}, but sending traffic back to stable FAILED ({failed}) — "
                f"run `canary {self.app} abort`"
            )
        self._keep(state, f"traffic sent 100% back to stable ({STABLE})")
        raise AbortedError(f"traffic sent 100% back to stable {self.target.stable} ({STABLE}) from {where}")
