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
    assert paused.notice is not None and paused.notice.startswith("paused")
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
    out, rec = planned(bot, COMMAND.format(ns=namespace) + " --cluster prod")
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
