"""Guarded progression without a cluster: the stages and their rules, the stored state's words, the
guard's verdict on a pod, which stale runs resume, and the Pause/Resume buttons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.engine.accounts import resume_step
from bot.engine.plans import run_report
from bot.errors import UserError
from bot.model import Weights
from bot.report import Report, report_to_dict
from bot.steps.artifacts import RunHold
from bot.steps.canary.pod_guard import pod_trouble
from bot.steps.canary.progression import CanaryProgression, progression_stages
from bot.store import ACTIVE, FINAL, RESUMABLE, TRANSITIONS, RunRecord, RunState, Store

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


def test_90_10_to_50_50_in_steps_of_10_is_five_stages_starting_with_the_start_split() -> None:
    stages = progression_stages(Weights(90, 10), 10, FIVE, Weights(50, 50))
    assert stages is not None
    assert stages.texts() == ["90/10", "80/20", "70/30", "60/40", "50/50"]
    assert stages.schedule(T0) == [
        "stage 1/5: 90/10 — at the start",
        "stage 2/5: 80/20 — 5m after the start (≈ 14:05 UTC if confirmed now)",
        "stage 3/5: 70/30 — 10m after the start (≈ 14:10 UTC if confirmed now)",
        "stage 4/5: 60/40 — 15m after the start (≈ 14:15 UTC if confirmed now)",
        "stage 5/5: 50/50 — 20m after the start (≈ 14:20 UTC if confirmed now)",
    ]


def test_the_last_stage_lands_exactly_on_until_and_every_defaults_to_5m() -> None:
    stages = progression_stages(Weights(100, 0), 15, None, Weights(0, 100))
    assert stages is not None
    assert stages.texts() == ["100/0", "85/15", "70/30", "55/45", "40/60", "25/75", "10/90", "0/100"]
    assert stages.every == FIVE
    assert progression_stages(Weights(90, 10), None, None, None) is None, "no flag: a plain split"


@pytest.mark.parametrize(
    ("action", "step", "every", "until", "why"),
    [
        (Weights(90, 10), 10, timedelta(seconds=29), Weights(50, 50), "--every 29s is too short"),
        (Weights(90, 10), 10, FIVE, Weights(95, 5), "--until 95/5 cannot be reached from 90/10"),
        (Weights(90, 10), 10, FIVE, Weights(90, 10), "--until 90/10 cannot be reached from 90/10"),
        (Weights(90, 10), 0, FIVE, Weights(50, 50), "--step 0: a stage moves 1 to 50 points of traffic"),
        (Weights(90, 10), 51, FIVE, Weights(50, 50), "--step 51: a stage moves 1 to 50 points of traffic"),
        ("promote", 10, None, Weights(50, 50), "not `promote`"),
        ("status", None, FIVE, None, "not `status`"),
        (Weights(90, 10), None, FIVE, Weights(50, 50), "a progression needs --step"),
        (Weights(90, 10), 10, None, None, "a progression needs --until"),
        (Weights(90, 10), None, FIVE, None, "a progression needs --step and --until"),
    ],
)
def test_bad_progressions_are_refused_with_the_rule(
    action: Weights | str, step: int | None, every: timedelta | None, until: Weights | None, why: str
) -> None:
    with pytest.raises(UserError) as err:
        progression_stages(action, step, every, until)
    assert why in err.value.message
    assert err.value.hint is not None
    assert "--step 10 --every 5m --until 50/50" in err.value.hint


def test_the_exact_minimum_interval_is_accepted() -> None:
    assert progression_stages(Weights(90, 10), 50, timedelta(seconds=30), Weights(40, 60)) is not None


def state(**kw: Any) -> CanaryProgression:
    base: dict[str, Any] = {
        "stages": ["90/10", "80/20", "70/30"],
        "every_seconds": 300,
        "stage": 2,
        "status": "applied",
        "weights": "80/20",
        "next_at": T0 + FIVE,
    }
    return CanaryProgression(**{**base, **kw})


def test_the_progress_line_names_the_stage_the_next_split_and_when() -> None:
    assert state().line(T0) == "stage 2/3: 80/20 · next 70/30 at 14:05 UTC"
    assert state(every_seconds=30, next_at=T0 + timedelta(seconds=30)).line() == (
        "stage 2/3: 80/20 · next 70/30 at 14:00:30 UTC"
    )
    assert state(paused=True).line(T0) == "stage 2/3: 80/20 · paused: 70/30 due at 14:05 UTC, held until Resume"
    assert state(paused=True).line(T0 + FIVE) == (
        "stage 2/3: 80/20 · paused: 70/30 was due at 14:05 UTC, held until Resume"
    )
    last = state(stage=3, weights="70/30")
    assert last.line(T0) == "stage 3/3: 70/30 · watching the canary until 14:05 UTC, then done"
    assert state(stage=3, weights="70/30", status="done").line(T0) == "stage 3/3: 70/30 · progression complete"


def test_the_account_counts_a_stage_being_applied_as_not_done() -> None:
    assert state().applied() == ["stage 1/3 (90/10) applied", "stage 2/3 (80/20) applied"]
    assert state().pending() == ["stage 3/3 (70/30)"]
    applying = state(stage=3, status="applying", weights="70/30")
    assert applying.applied() == ["stage 1/3 (90/10) applied", "stage 2/3 (80/20) applied"]
    assert applying.pending() == ["stage 3/3 (70/30)"]


def pod(
    name: str = "web-canary-1",
    uid: str = "u1",
    restarts: int = 0,
    waiting: str | None = None,
    terminated: str | None = None,
    ready: bool = True,
) -> dict[str, Any]:
    state_: dict[str, Any] = {"running": {}}
    if waiting:
        state_ = {"waiting": {"reason": waiting}}
    if terminated:
        state_ = {"terminated": {"reason": terminated, "exitCode": 1}}
    return {
        "metadata": {"name": name, "uid": uid},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "restartCount": restarts, "state": state_}],
        },
    }


@pytest.mark.parametrize(
    ("the_pod", "baseline", "unready_for", "verdict"),
    [
        (pod(restarts=3, waiting="CrashLoopBackOff", ready=False), {"u1": 3}, 0.0, "is CrashLoopBackOff (restarts 3)"),
        (pod(waiting="ImagePullBackOff", ready=False), {}, 0.0, "pod web-canary-1 is ImagePullBackOff (restarts 0)"),
        (pod(waiting="ErrImagePull", ready=False), {}, 0.0, "is ErrImagePull"),
        (pod(restarts=5, terminated="Error", ready=False), {"u1": 5}, 0.0, "pod web-canary-1 is Error (restarts 5)"),
        (pod(restarts=2), {"u1": 1}, 0.0, "pod web-canary-1 restarted (restarts 1 → 2)"),
        (pod(uid="new", restarts=1), {"u1": 0}, 0.0, "restarted (restarts 0 → 1)"),  # created since: counts from 0
        (pod(ready=False), {}, 31.0, "pod web-canary-1 has been unready for 31.0s"),
        (pod(ready=False), {}, 29.0, None),  # not for longer than the threshold yet
        (pod(restarts=4), {"u1": 4}, 0.0, None),  # restarted before the progression began
        (pod(waiting="ContainerCreating", ready=False), {}, 1.0, None),
    ],
)
def test_the_guard_rolls_back_for_crashes_restarts_and_long_unreadiness(
    the_pod: dict[str, Any], baseline: dict[str, int], unready_for: float, verdict: str | None
) -> None:
    found = pod_trouble(the_pod, baseline, unready_for, 30.0)
    if verdict is None:
        assert found is None
    else:
        assert found is not None
        assert verdict in found


def test_resumable_states_are_active_and_the_transition_table_is_unchanged_for_them() -> None:
    assert {RunState.RUNNING, RunState.ABORTING} == RESUMABLE
    assert RESUMABLE <= ACTIVE
    assert not RESUMABLE & FINAL
    assert RunState.RUNNING not in TRANSITIONS[RunState.RUNNING], "a takeover changes the owner, not the state"
    assert RunState.INTERRUPTED in TRANSITIONS[RunState.RUNNING]


def _run(store: Store, run_id: str, **plan: Any) -> RunRecord:
    rec = RunRecord(
        id=run_id,
        runbook="canary",
        risk="change",
        cluster="c",
        namespace="default",
        command="canary web 90/10 --step 10 --until 50/50",
        requester_chat_id="U1",
        requester_name="alice",
        kube_user="alice",
        kube_groups=[],
        state="running",
        plan={"step_lines": ["one", "two", "three"], **plan},
        plan_hash="h",
    )
    store.create_run(rec)
    return rec


def test_a_stale_run_resumes_only_at_a_step_that_declared_it_can(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        plain = _run(store, "plain")
        assert resume_step(store, plain) is None, "no resumable step: interrupted, as before"
        at_two = _run(store, "two", resumable_steps=[2])
        for kind, step in (("step_started", 1), ("step_finished", 1), ("step_started", 2)):
            store.add_audit("two", "bot", kind, "", {"step": step})
        assert resume_step(store, at_two) == 2
        at_one = _run(store, "one", resumable_steps=[2])
        store.add_audit("one", "bot", "step_started", "", {"step": 1})
        assert resume_step(store, at_one) is None, "step 1 was executing and cannot resume"
        between = _run(store, "between", resumable_steps=[2])
        for kind in ("step_started", "step_finished"):
            store.add_audit("between", "bot", kind, "", {"step": 1})
        assert resume_step(store, between) == 2, "between steps: the next one starts, and it can resume"
        fresh = _run(store, "fresh", resumable_steps=[1])
        assert resume_step(store, fresh) == 1


def _record(state_: str, **plan: Any) -> RunRecord:
    doc = report_to_dict(Report(title="canary on staging"))
    return RunRecord(
        id="r1",
        runbook="canary",
        risk="change",
        cluster="staging",
        namespace="default",
        command="canary web 90/10 --step 10 --until 50/50",
        requester_chat_id="U1",
        requester_name="alice",
        kube_user="alice",
        kube_groups=[],
        state=state_,
        plan={**doc, **plan},
        plan_hash="h",
    )


def test_a_running_progression_shows_pause_or_resume_beside_abort() -> None:
    running = run_report(_record("running", pausable=True), [])
    assert [(a.kind, a.label) for a in running.actions] == [("pause", "Pause"), ("abort", "Abort")]
    hold = RunHold(paused=True, by="alice", at=T0)
    held = run_report(_record("running", pausable=True), [], hold=hold, now=T0)
    assert [(a.kind, a.label) for a in held.actions] == [("resume", "Resume"), ("abort", "Abort")]
    status = [line for part in held.parts for line in getattr(part, "lines", [])]
    assert "Paused by alice at 14:00 UTC: the weights hold until Resume" in status
    assert [a.kind for a in run_report(_record("running"), [], hold=hold).actions] == ["abort"]
    assert run_report(_record("succeeded", pausable=True), [], hold=hold).actions == []
