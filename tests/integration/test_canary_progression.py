"""Guarded canary progression against the real API server, the real HTTPRoute CRD and kwok's pods.

The run's clock is one the test moves (``build_bot(..., clock=)``), so five-minute stages pass at
once; what the route stored is checked after every stage and, at the end, in the API server's audit
log (one patch per stage, in order — the test audit policy records HTTPRoute patch bodies).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bot.config.settings import Settings
from bot.engine.bootstrap import Bot, build_bot
from bot.report import Report
from tests.harness import progression_setup as ps
from tests.harness.control_plane import ControlPlane
from tests.harness.health_setup import MovableClock
from tests.harness.kwok_nodes import wait_for
from tests.harness.runs import plan_text, planned, who
from tests.harness.workload_setup import pool_node

pytestmark = pytest.mark.integration
STAGES = ["90/10", "80/20", "70/30", "60/40", "50/50"]
COMMAND = "canary web 90/10 --step 10 --every 5m --until 50/50 -n {ns}"
FINAL = {"succeeded", "failed", "aborted", "interrupted", "replan_required"}


@pytest.fixture(scope="module")
def pool(kube_api_client: client.ApiClient) -> dict[str, str]:
    ps.grant_progression(kube_api_client)
    return pool_node(kube_api_client)


class Progress:
    """A RunNotifier that keeps every progress line (what Slack would show in the run message)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def progress(self, run_id: str, text: str) -> None:
        with self._lock:
            self.lines.append(text)

    def finished(self, run_id: str, report: Report) -> None:
        """Nothing to keep: the tests read the stored run."""

    def wait_for(self, text: str, timeout: float = 30) -> str:
        def seen() -> str | None:
            with self._lock:
                return next((line for line in self.lines if text in line), None)

        return wait_for(f"a progress line with {text!r}", seen, timeout)


def make_bot(cp: ControlPlane, tmp_path: Path, clock: Any, name: str = "bot") -> Bot:
    doc = ps.progression_doc(cp.admin_kubeconfig, f"sqlite:///{tmp_path / 'store.sqlite3'}")
    bot = build_bot(Settings(**doc), clock=clock)
    bot.runs.notifier = Progress()
    return bot


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def bot(control_plane: ControlPlane, pool: dict[str, str], tmp_path: Path, clock: MovableClock) -> Iterator[Bot]:
    b = make_bot(control_plane, tmp_path, clock)
    yield b
    b.runs.shutdown(10)
    b.close()


def progression(bot: Bot, run_id: str) -> dict[str, Any]:
    data = bot.store.get_artifact(run_id, "CanaryProgression", "")
    return data or {}


def wait_stage(bot: Bot, api: client.ApiClient, ns: str, run_id: str, split: str) -> None:
    """The route is at ``split`` and the run stored that stage as applied (its next one is scheduled)."""
    ps.wait_split(api, ns, "web", split)

    def applied() -> bool | None:
        state = progression(bot, run_id)
        return True if state.get("weights") == split and state.get("status") == "applied" else None

    wait_for(f"stage {split} stored as applied", applied, 30)


def wait_state(bot: Bot, run_id: str, states: set[str], timeout: float = 60) -> Any:
    def probe() -> Any:
        rec = bot.store.get_run(run_id)
        return rec if rec is not None and rec.state in states else None

    return wait_for(f"run {run_id} in {states}", probe, timeout)


def resumed(bot: Bot, run_id: str) -> bool | None:
    """True once the run's new owner is executing it again (audit ``resumed``)."""
    return True if any(e.kind == "resumed" for e in bot.store.audit_events(run_id=run_id, limit=200)) else None


def start(bot: Bot, ns: str, chat_id: str = "U0ALICE") -> Any:
    _, rec = planned(bot, COMMAND.format(ns=ns), chat_id)
    assert bot.runs.confirm(rec.id, rec.plan_hash, who(bot, chat_id)).execute
    bot.runs.start(rec.id)
    return rec


def test_the_plan_shows_every_stage_and_the_guard_and_changes_nothing(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane, pool: dict[str, str]
) -> None:
    ps.canary_app(kube_api_client, namespace, "web", pool)
    out, rec = planned(bot, COMMAND.format(ns=namespace))
    text = plan_text(out.report)
    assert "canary web: 90/10 → 50/50 in 5 stages, one every 5m, guarded: Gateway API HTTPRoute" in text
    assert "HTTPRoute web rule 2 (/): web 100 → 90 (100% → 90%), web-canary 0 → 10 (0% → 10%)" in text
    assert "stage 1/5: 90/10 — at the start" in text
    for i, split in enumerate(STAGES[1:], 1):
        assert f"stage {i + 1}/5: {split} — {5 * i}m after the start (≈ " in text
    assert "guard: pods selected by service web-canary (app=web,track=canary)" in text
    assert "list pods in namespace" in text, "the guard's watch is checked against the requester's RBAC"
    assert "the API server accepts this change (server-side dry run)" in text
    assert rec.plan["resumable_steps"] == [1]
    assert rec.plan["pausable"] is True
    assert ps.route_split(kube_api_client, namespace, "web") == "100/0"
    assert ps.route_patches(control_plane, namespace, "web", rec.id) == []


def test_90_10_to_50_50_stores_each_split_in_turn_one_patch_per_stage(
    bot: Bot,
    clock: MovableClock,
    namespace: str,
    kube_api_client: client.ApiClient,
    control_plane: ControlPlane,
    pool: dict[str, str],
) -> None:
    ps.canary_app(kube_api_client, namespace, "web", pool)
    rec = start(bot, namespace)
    progress: Progress = bot.runs.notifier  # type: ignore[assignment]
    for i, split in enumerate(STAGES, 1):
        wait_stage(bot, kube_api_client, namespace, rec.id, split)
        assert bot.store.get_run(rec.id).state == "running"  # type: ignore[union-attr]
        if i < len(STAGES):
            progress.wait_for(f"stage {i}/5: {split} · next {STAGES[i]} at ")
        else:
            progress.wait_for("stage 5/5: 50/50 · watching the canary until ")
        clock.advance(ps.EVERY)
    final = wait_state(bot, rec.id, FINAL)
    assert final.state == "succeeded", final.outcome
    assert "Canary web: now 50/50 (stable/canary)" in (final.outcome or "")
    assert ps.route_patches(control_plane, namespace, "web", rec.id) == STAGES
    assert ps.route_split(kube_api_client, namespace, "web") == "50/50"


def test_a_canary_pod_that_starts_crash_looping_rolls_traffic_back_to_stable(
    bot: Bot,
    clock: MovableClock,
    namespace: str,
    kube_api_client: client.ApiClient,
    control_plane: ControlPlane,
    pool: dict[str, str],
) -> None:
    pods = ps.canary_app(kube_api_client, namespace, "web", pool)
    rec = start(bot, namespace)
    wait_stage(bot, kube_api_client, namespace, rec.id, "90/10")
    clock.advance(ps.EVERY)
    wait_stage(bot, kube_api_client, namespace, rec.id, "80/20")
    victim = pods[0].metadata.name
    ps.crash(kube_api_client, namespace, victim)
    final = wait_state(bot, rec.id, FINAL)
    assert final.state == "failed"
    assert f"rolled back to stable: pod {victim} is CrashLoopBackOff (restarts 3)" in (final.outcome or "")
    assert "stage 1/5 (90/10) applied; stage 2/5 (80/20) applied; rolled back to stable (100/0)" in final.outcome
    assert "Not done: stage 3/5 (70/30)" in final.outcome
    assert ps.route_split(kube_api_client, namespace, "web") == "100/0"
    assert ps.route_patches(control_plane, namespace, "web", rec.id) == ["90/10", "80/20", "100/0"]


def test_pause_holds_the_weights_resume_continues_and_abort_restores_stable(
    bot: Bot,
    clock: MovableClock,
    namespace: str,
    kube_api_client: client.ApiClient,
    control_plane: ControlPlane,
    pool: dict[str, str],
) -> None:
    ps.canary_app(kube_api_client, namespace, "web", pool)
    rec = start(bot, namespace)
    progress: Progress = bot.runs.notifier  # type: ignore[assignment]
    wait_stage(bot, kube_api_client, namespace, rec.id, "90/10")
    alice, dave = who(bot, "U0ALICE"), who(bot, "U0DAVE")
    assert "only the requester or an approver" in (bot.runs.decide("pause", rec.id, rec.plan_hash, dave).notice or "")
    assert "older plan" in (bot.runs.decide("pause", rec.id, "stale", alice).notice or "")
    paused = bot.runs.decide("pause", rec.id, rec.plan_hash, alice)
    assert paused.notice is not None
    assert paused.notice.startswith("paused")
    assert paused.report is not None
    assert [a.label for a in paused.report.actions] == ["Resume", "Abort"]
    assert "Paused by U0ALICE at " in plan_text(paused.report)
    assert "already paused" in (bot.runs.decide("pause", rec.id, rec.plan_hash, alice).notice or "")
    progress.wait_for("stage 1/5: 90/10 · paused: 80/20 due at")
    clock.advance(ps.EVERY + timedelta(minutes=1))
    progress.wait_for("stage 1/5: 90/10 · paused: 80/20 was due at")  # the step saw it due, and held
    assert ps.route_split(kube_api_client, namespace, "web") == "90/10"
    resumed = bot.runs.decide("resume", rec.id, rec.plan_hash, alice)
    assert resumed.report is not None
    assert [a.label for a in resumed.report.actions] == ["Pause", "Abort"]
    wait_stage(bot, kube_api_client, namespace, rec.id, "80/20")  # overdue: applied at once on Resume
    bot.runs.abort(rec.id, rec.plan_hash, alice)
    final = wait_state(bot, rec.id, FINAL)
    assert final.state == "aborted", final.outcome
    assert "traffic sent 100% back to stable web (100/0) from stage 2/5 (80/20)" in (final.outcome or "")
    assert ps.route_split(kube_api_client, namespace, "web") == "100/0"
    assert ps.route_patches(control_plane, namespace, "web", rec.id) == ["90/10", "80/20", "100/0"]
    kinds = [e.kind for e in bot.store.audit_events(run_id=rec.id, limit=100)]
    assert kinds.count("paused") == 1
    assert kinds.count("resumed") == 1


def test_a_progression_on_production_waits_for_approval(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane, pool: dict[str, str]
) -> None:
    ps.canary_app(kube_api_client, namespace, "web", pool)
    _, rec = planned(bot, COMMAND.format(ns=namespace) + " --cluster prod")
    assert rec.risk == "destructive"
    decision = bot.runs.confirm(rec.id, rec.plan_hash, who(bot, "U0ALICE"))
    assert not decision.execute
    assert bot.store.get_run(rec.id).state == "awaiting_approval"  # type: ignore[union-attr]
    assert ps.route_patches(control_plane, namespace, "web", rec.id) == []
    approved = bot.runs.approve(rec.id, rec.plan_hash, who(bot, "U0BOB"))
    assert approved.execute
    bot.runs.start(rec.id)
    wait_stage(bot, kube_api_client, namespace, rec.id, "90/10")
    bot.runs.abort(rec.id, rec.plan_hash, who(bot, "U0BOB"))
    assert wait_state(bot, rec.id, FINAL).state == "aborted"
    assert ps.route_split(kube_api_client, namespace, "web") == "100/0"


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        ("90/10 --step 10 --every 10s --until 50/50", "--every 10s is too short"),
        ("90/10 --step 10 --until 95/5", "--until 95/5 cannot be reached from 90/10"),
        ("90/10 --step 0 --until 50/50", "step must be at least 1, not 0"),
        ("promote --step 10 --until 50/50", "go with a starting split such as 90/10, not `promote`"),
        ("90/10 --every 1m", "a progression needs --step and --until"),
    ],
)
def test_bad_progression_flags_are_refused_and_nothing_is_written(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane, flags: str, why: str
) -> None:
    ps.cs.httproute(kube_api_client, namespace, "web", [("web", 100), ("web-canary", 0)])
    out = bot.runs.request(f"canary web {flags} -n {namespace}", who(bot, "U0ALICE"))
    assert not out.ok
    assert why in plan_text(out.report)
    assert ps.route_split(kube_api_client, namespace, "web") == "100/0"
    assert ps.cs.writes_in(control_plane.read_audit_events(), namespace) == []


def test_a_bot_killed_mid_progression_is_resumed_by_another_without_repeating_a_stage(
    control_plane: ControlPlane,
    namespace: str,
    kube_api_client: client.ApiClient,
    pool: dict[str, str],
    tmp_path: Path,
) -> None:
    """The first bot runs in its own process and is killed (SIGKILL) after stage 2; the second's recovery
    takes the run over once the first's heartbeat is stale, and finishes it from stage 3."""
    ps.canary_app(kube_api_client, namespace, "web", pool)
    clock = ps.FileClock(tmp_path / "clock")
    doc = ps.progression_doc(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path / 'store.sqlite3'}")
    (tmp_path / "settings.json").write_text(json.dumps(doc))
    second = build_bot(Settings(**doc), clock=clock)
    _, rec = planned(second, COMMAND.format(ns=namespace))
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.harness.progression_worker", str(tmp_path / "settings.json"),
         str(clock.path), rec.id, rec.plan_hash, "U0ALICE"],
        stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        wait_stage(second, kube_api_client, namespace, rec.id, "90/10")
        clock.advance(ps.EVERY)
        wait_stage(second, kube_api_client, namespace, rec.id, "80/20")
        owner = second.store.get_run(rec.id).owner_id  # type: ignore[union-attr]
        first.kill()  # no shutdown, no hand-back: its heartbeat just stops
        first.wait(30)
        running = second.store.get_run(rec.id)
        assert running is not None
        assert running.state == "running", "a dead owner's run stays running until a recovery settles it"
        clock.advance(timedelta(seconds=10))  # past stale_after (3s): the owner looks dead
        assert second.runs.recover() == [rec.id]
        taken = second.store.get_run(rec.id)
        assert taken is not None
        assert taken.state == "running"
        assert taken.owner_id == second.runs.owner_id != owner
        wait_for("the resumed run", lambda: resumed(second, rec.id), 30)
        assert ps.route_split(kube_api_client, namespace, "web") == "80/20", "stage 2 is not applied again"
        for split in STAGES[2:]:
            clock.advance(ps.EVERY)
            wait_stage(second, kube_api_client, namespace, rec.id, split)
        clock.advance(ps.EVERY)
        final = wait_state(second, rec.id, FINAL)
        assert final.state == "succeeded", final.outcome
        assert ps.route_patches(control_plane, namespace, "web", rec.id) == STAGES, "each stage patched exactly once"
        kinds = [e.kind for e in second.store.audit_events(run_id=rec.id, limit=200)]
        assert kinds.count("taken_over") == 1
        assert kinds.count("resumed") == 1
        assert kinds.count("succeeded") == 1
        assert "interrupted" not in kinds
    finally:
        if first.poll() is None:
            first.kill()
        log.close()
        second.runs.shutdown(10)
        second.close()


def test_a_bot_shutting_down_hands_the_progression_back_and_another_resumes_it(
    control_plane: ControlPlane,
    namespace: str,
    kube_api_client: client.ApiClient,
    pool: dict[str, str],
    tmp_path: Path,
) -> None:
    """A graceful stop (SIGTERM in a rolling update) neither rolls back nor marks the run interrupted:
    it hands it back, still running, and the next replica's recovery resumes it at once."""
    ps.canary_app(kube_api_client, namespace, "web", pool)
    clock = MovableClock()
    first = make_bot(control_plane, tmp_path, clock)
    second = make_bot(control_plane, tmp_path, clock)
    try:
        rec = start(first, namespace)
        wait_stage(first, kube_api_client, namespace, rec.id, "90/10")
        assert first.runs.shutdown(10) == []
        handed = first.store.get_run(rec.id)
        assert handed is not None
        assert handed.state == "running"
        assert handed.heartbeat_at is None
        assert ps.route_split(kube_api_client, namespace, "web") == "90/10", "a shutdown changes no weights"
        assert second.runs.recover() == [rec.id]
        for split in STAGES[1:]:
            clock.advance(ps.EVERY)
            wait_stage(second, kube_api_client, namespace, rec.id, split)
        clock.advance(ps.EVERY)
        assert wait_state(second, rec.id, FINAL).state == "succeeded"
        assert ps.route_patches(control_plane, namespace, "web", rec.id) == STAGES
        kinds = [e.kind for e in second.store.audit_events(run_id=rec.id, limit=200)]
        assert kinds.count("handed_back") == 1
        assert kinds.count("taken_over") == 1
    finally:
        second.runs.shutdown(10)
        first.close()
        second.close()


def set_route(api: client.ApiClient, ns: str, split: str) -> None:
    """Write the route's weights as the admin (a person, or a bot that died right after its patch)."""
    stable, canary = (int(x) for x in split.split("/"))
    ops = [
        {"op": "replace", "path": "/spec/rules/1/backendRefs/0/weight", "value": stable},
        {"op": "replace", "path": "/spec/rules/1/backendRefs/1/weight", "value": canary},
    ]
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        *ps.ROUTES[:2], ns, ps.ROUTES[2], "web", ops, _content_type="application/json-patch+json"
    )


def test_a_stage_whose_write_landed_before_its_owner_died_is_not_written_again(
    control_plane: ControlPlane,
    namespace: str,
    kube_api_client: client.ApiClient,
    pool: dict[str, str],
    tmp_path: Path,
) -> None:
    """The owner stored stage 3 as applying and its patch reached the API server, then it died before storing
    it as applied: the next owner finds the route already at 70/30 and moves on without a patch."""
    ps.canary_app(kube_api_client, namespace, "web", pool)
    clock = MovableClock()
    first = make_bot(control_plane, tmp_path, clock)
    second = make_bot(control_plane, tmp_path, clock)
    try:
        rec = start(first, namespace)
        wait_stage(first, kube_api_client, namespace, rec.id, "90/10")
        clock.advance(ps.EVERY)
        wait_stage(first, kube_api_client, namespace, rec.id, "80/20")
        first.runs.shutdown(10)
        state = progression(first, rec.id)
        first.store.put_artifact(rec.id, "CanaryProgression", "", {**state, "stage": 3, "status": "applying",
                                                                     "weights": "70/30"})  # fmt: skip
        set_route(kube_api_client, namespace, "70/30")
        assert second.runs.recover() == [rec.id]
        wait_stage(second, kube_api_client, namespace, rec.id, "70/30")
        for split in STAGES[3:]:
            clock.advance(ps.EVERY)
            wait_stage(second, kube_api_client, namespace, rec.id, split)
        clock.advance(ps.EVERY)
        assert wait_state(second, rec.id, FINAL).state == "succeeded"
        assert ps.route_patches(control_plane, namespace, "web", rec.id) == ["90/10", "80/20", "60/40", "50/50"]
    finally:
        second.runs.shutdown(10)
        first.close()
        second.close()


def test_weights_changed_by_hand_stop_the_progression_without_a_write(
    bot: Bot,
    clock: MovableClock,
    namespace: str,
    kube_api_client: client.ApiClient,
    control_plane: ControlPlane,
    pool: dict[str, str],
) -> None:
    ps.canary_app(kube_api_client, namespace, "web", pool)
    rec = start(bot, namespace)
    wait_stage(bot, kube_api_client, namespace, rec.id, "90/10")
    set_route(kube_api_client, namespace, "100/0")  # someone ran `canary web abort` by hand
    clock.advance(ps.EVERY)
    final = wait_state(bot, rec.id, FINAL)
    assert final.state == "failed"
    assert "the weights were changed outside this progression (the weights are 100/0, not 90/10)" in (
        final.outcome or ""
    )
    assert ps.route_split(kube_api_client, namespace, "web") == "100/0"
    assert ps.route_patches(control_plane, namespace, "web", rec.id) == ["90/10"]


def test_an_owner_that_lost_the_run_while_alive_writes_no_stage_after_the_takeover(
    control_plane: ControlPlane,
    namespace: str,
    kube_api_client: client.ApiClient,
    pool: dict[str, str],
    tmp_path: Path,
) -> None:
    """A live owner whose heartbeats look stale to another replica (a partition, a long pause): the other
    takes the run over; the first finds out at its next heartbeat and stops without touching the route."""
    ps.canary_app(kube_api_client, namespace, "web", pool)
    clock = MovableClock()
    ahead = MovableClock(timedelta(minutes=10))  # the second replica sees the first's heartbeats as old
    first = make_bot(control_plane, tmp_path, clock)
    second = make_bot(control_plane, tmp_path, ahead)
    try:
        rec = start(first, namespace)
        wait_stage(first, kube_api_client, namespace, rec.id, "90/10")
        wait_for("the takeover", lambda: second.runs.recover() or None, 30)
        wait_for("the first owner to stop", lambda: True if not first.runs.executor.owned() else None, 30)
        assert first.store.get_run(rec.id).owner_id == second.runs.owner_id  # type: ignore[union-attr]
        for split in STAGES[1:]:
            clock.advance(ps.EVERY)
            ahead.advance(ps.EVERY)
            wait_stage(second, kube_api_client, namespace, rec.id, split)
        ahead.advance(ps.EVERY)
        final = wait_state(second, rec.id, FINAL)
        assert final.state == "succeeded", final.outcome
        assert ps.route_patches(control_plane, namespace, "web", rec.id) == STAGES, "no stage written twice"
    finally:
        first.runs.shutdown(10)
        second.runs.shutdown(10)
        first.close()
        second.close()
