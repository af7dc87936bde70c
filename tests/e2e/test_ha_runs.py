"""Run ownership across real processes: replicas of ``runbook-bot serve`` (OS processes, one shared
PostgreSQL), driven only by signed Slack requests, against the real API server; killed, terminated
and loaded while drains are blocked by PodDisruptionBudgets.

A controllable clock cannot be shared by separate processes, so staleness is real time made
small (``TEST_EXECUTION``: heartbeat 1 s, stale after 5 s, recovery every 1 s, grace 10 s). What the
issue's "> 3 minutes" stands for is a step lasting much longer than the staleness window (the old
bug marked such a run interrupted once one step outlasted 120 s); here the blocked drains outlast
the window several times over (≥ 3 × 5 s beyond the start of the last extra process).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client

from bot.engine.accounts import account_of
from tests.harness.bot_process import TEST_EXECUTION, BotProcess, run_cli
from tests.harness.bot_server import SIGNING_SECRET
from tests.harness.cloud_nodes import KubeletJoiner
from tests.harness.control_plane import ControlPlane
from tests.harness.ha_flow import (
    REQUESTER,
    HaSession,
    SlackRun,
    actions_of,
    final_update,
    owner_of,
    refusal,
    request_plan,
    run_id_of,
    slash,
    start_run,
    text_of,
    wait_plan,
    wait_update,
)
from tests.harness.held_pods import (
    DrainNodes,
    evictions,
    held,
    live_pods,
    loose,
    relax,
    wait_pdb_allows,
    wait_pdb_blocks,
    wait_running,
)
from tests.harness.kwok_nodes import unique_name, wait_for, wait_node_ready
from tests.harness.postgres import PostgresServer
from tests.harness.replace_setup import Aws, aws_cloud, moto_server, node_replacers
from tests.harness.slack_flow import STAGING, action_body, click
from tests.harness.slack_server import FakeSlack
from tests.harness.slack_signing import signed_headers, slash_command_body
from tests.harness.trust_setup import grant

pytestmark = pytest.mark.e2e

STALE = float(TEST_EXECUTION["stale_after_seconds"])
EVERY = float(TEST_EXECUTION["recover_every_seconds"])
GRACE = float(TEST_EXECUTION["shutdown_grace_seconds"])
#: Scheduling slack on a shared 2-core machine for "noticed within stale_after + recover_every".
SLACK_SECONDS = 10.0
NEVER = {"interrupted", "taken_over", "transition_lost"}


@pytest.fixture
def cluster(e2e_admin: client.ApiClient) -> Iterator[DrainNodes]:
    """kwok nodes and a namespace of this test's own, removed after (the e2e cluster is left as found)."""
    nodes = DrainNodes(e2e_admin, "ha")
    try:
        yield nodes
    finally:
        nodes.close()


@pytest.fixture
def ha(
    e2e_control_plane: ControlPlane,
    e2e_admin: client.ApiClient,
    fake_slack: FakeSlack,
    postgres_server: PostgresServer,
    cluster: DrainNodes,
    tmp_path: Path,
) -> Iterator[HaSession]:
    """A fresh PostgreSQL database and the cast's RBAC; every process started is stopped after
    (before ``cluster`` removes the nodes their runs work on)."""
    grant(e2e_admin)
    url = postgres_server.new_database(f"ha_{uuid.uuid4().hex[:16]}")
    session = HaSession(e2e_control_plane, e2e_admin, fake_slack, url, tmp_path)
    try:
        yield session
    finally:
        session.close()


def start_other_processes(ha: HaSession, config: Path, run: SlackRun) -> list[BotProcess]:
    """A third replica, an operator's ``shell`` and a ``check-config``, all on the same database."""
    started = ha.start(config, "c")
    shell = run_cli(config, "shell", stdin="runs\n")
    assert shell.returncode == 0, shell.stderr
    assert run.id in shell.stdout, shell.stdout
    assert "running" in shell.stdout, shell.stdout
    checked = run_cli(config, "check-config")
    assert checked.returncode == 0, checked.stderr
    return started


def keep_alive_beyond(ha: HaSession, owner: BotProcess, runs: list[SlackRun], beyond: datetime) -> None:
    """Wait until every run was heart-beaten after ``beyond``, each still running and ``owner``'s throughout."""

    def beaten_beyond() -> bool | None:
        recs = [ha.run(run.id) for run in runs]
        for rec in recs:
            assert rec.state == "running", (rec.state, rec.outcome)
            assert owner_of(owner, rec), rec.owner_id
        return True if all(rec.heartbeat_at and rec.heartbeat_at >= beyond for rec in recs) else None

    wait_for("heart-beats beyond three staleness windows", beaten_beyond, (beyond - datetime.now(UTC)).seconds + 60)
    for run in runs:
        assert not NEVER & set(ha.audit_kinds(run.id)), ha.audit_kinds(run.id)


def abort_through(ha: HaSession, replica: BotProcess, run: SlackRun) -> float:
    """Click Abort on the run's message through ``replica``; wait for the final message; when it was clicked."""
    progress = wait_update(ha.slack, run.ts, "waiting on PDB")
    clicked = time.time()
    click(replica, progress, "rb_abort", REQUESTER)
    ha.slack.wait_match("chat.postEphemeral", lambda call: "abort requested" in str(call.args.get("text")))
    final = final_update(ha.slack, run.ts, "aborted")
    words = text_of(final)
    assert "Aborted:" in words, words
    assert "evicted 0/2 pods; no further evictions were made" in words, words
    assert actions_of(final) == [], "no Abort button once the run ended"
    kinds = ha.audit_kinds(run.id)
    assert kinds.count("abort_requested") == 1, kinds
    assert kinds.count("aborted") == 1, kinds
    assert not NEVER & set(kinds), kinds
    return clicked


def test_a_blocked_drain_outlives_new_processes_stops_on_abort_from_the_other_replica_and_succeeds_once(
    ha: HaSession, cluster: DrainNodes
) -> None:
    core, ns = cluster.core, cluster.namespace
    first, second = cluster.node(), cluster.node()
    held(ha.api, ns, "held-one", first)
    held(ha.api, ns, "held-two", second)
    first_pods = wait_running(core, ns, "held-one", 2, first)
    second_pods = wait_running(core, ns, "held-two", 2, second)
    wait_pdb_blocks(ha.api, ns, "held-one-pdb", 2)
    wait_pdb_blocks(ha.api, ns, "held-two-pdb", 2)
    config = ha.config()
    a, b = ha.start(config, "a", "b")

    aborted = start_run(a, ha.slack, f"drain {first} --timeout 5m", first)
    finishing = start_run(a, ha.slack, f"drain {second} --timeout 5m", second)
    for run in (aborted, finishing):
        wait_update(ha.slack, run.ts, "evicted 0/2 pods", "waiting on PDB")
        assert owner_of(a, ha.run(run.id)), "the replica that took the Confirm click executes the run"

    (c,) = start_other_processes(ha, config, aborted)
    extras_started = datetime.now(UTC)
    # While replicas b and c look for stale runs every second, both drains stay blocked for three
    # staleness windows after the last process started: still running, still a's, never settled.
    keep_alive_beyond(ha, a, [aborted, finishing], extras_started + timedelta(seconds=3 * STALE))
    assert c.running()
    assert b.running()

    clicked = abort_through(ha, b, aborted)
    rec = ha.run(aborted.id)
    assert rec.state == "aborted"
    assert owner_of(a, rec), "b took the click, a stopped its own run"

    # The other drain, left to finish when its PDB relaxes, succeeds exactly once. The aborted
    # drain's PDB relaxes too: whatever of that run went on after the abort would now evict.
    relax(ha.api, ns, "held-one-pdb")
    relax(ha.api, ns, "held-two-pdb")
    done = ha.wait_state(finishing.id, {"succeeded", "failed", "interrupted", "aborted"}, 120)
    assert done.state == "succeeded", done.outcome
    final = final_update(ha.slack, finishing.ts, "succeeded")
    assert "Done: drain on staging" in text_of(final)
    assert actions_of(final) == []
    kinds = ha.audit_kinds(finishing.id)
    assert kinds.count("succeeded") == 1, kinds
    assert not NEVER & set(kinds), kinds

    wait_pdb_allows(ha.api, ns, "held-one-pdb", 2)
    seen = evictions(ha.cp, ns)
    accepted = sorted(e.pod for e in seen if e.code == 201)
    assert accepted == second_pods, "each pod of the second drain evicted exactly once"
    assert not [e for e in seen if e.pod in first_pods and e.code < 300 and e.at >= clicked], "evicted after Abort"
    assert rec.finished_at is not None
    stopped = rec.finished_at.timestamp()
    assert not [e for e in seen if e.pod in first_pods and e.at >= stopped], "eviction requests after it stopped"
    assert {e.user for e in seen} == {"alice"}, "every eviction made as the requester"
    assert sorted(f"{ns}/{p.metadata.name}" for p in live_pods(core, ns, "held-one")) == first_pods
    assert ha.secrets_logged() == []


def test_kill_9_of_the_executing_replica_mid_drain_is_marked_interrupted_by_the_survivor(
    ha: HaSession, cluster: DrainNodes
) -> None:
    core, ns = cluster.core, cluster.namespace
    node = cluster.node()
    loose(ha.api, ns, "loose", node)
    held(ha.api, ns, "held", node)
    (loose_pod,) = wait_running(core, ns, "loose", 1, node)
    held_pods = wait_running(core, ns, "held", 2, node)
    wait_pdb_blocks(ha.api, ns, "held-pdb", 2)
    a, b = ha.start(ha.config(), "a", "b")

    run = start_run(a, ha.slack, f"drain {node} --timeout 5m", node)
    wait_update(ha.slack, run.ts, "evicted 1/3 pods", "waiting on PDB held-pdb for 2 pods")
    wait_for(
        "the drain's account to show the evicted pod",
        lambda: True if loose_pod in account_of(ha.store, ha.run(run.id)).text() else None,
        30,
    )
    owner = ha.run(run.id).owner_id
    killed = a.kill9()
    relax(ha.api, ns, "held-pdb")  # from now on only a drain still going could evict these pods

    rec = ha.wait_state(run.id, {"interrupted", "succeeded", "failed", "aborted"}, STALE + EVERY + 60)
    assert rec.state == "interrupted", rec.outcome
    assert rec.finished_at is not None
    noticed = rec.finished_at.timestamp() - killed
    print(f"\nkill -9 → marked interrupted by the other replica after {noticed:.1f}s")
    assert noticed <= STALE + EVERY + SLACK_SECONDS, f"marked interrupted {noticed:.1f}s after the kill"
    assert f"the bot process executing this run ({owner}) stopped" in (rec.outcome or "")
    (event,) = [e for e in ha.store.audit_events(run_id=run.id, limit=100) if e.kind == "interrupted"]
    assert str(event.detail.get("by", "")).startswith(f"b-{b.pid}-"), event.detail

    final = final_update(ha.slack, run.ts, "interrupted")
    words = text_of(final)
    assert "Interrupted:" in words, words
    assert f"evicted 1 of 3 pods from node {node}: {loose_pod}" in words, words
    assert f"2 pod(s) still on node {node}: {', '.join(held_pods)}" in words, words
    assert actions_of(final) == [], "no Abort button on an interrupted run"

    wait_pdb_allows(ha.api, ns, "held-pdb", 2)
    after = [e for e in evictions(ha.cp, ns) if e.at >= killed]
    assert after == [], f"evictions after the kill: {after}"
    assert sorted(f"{ns}/{p.metadata.name}" for p in live_pods(core, ns, "held")) == held_pods


def test_sigterm_mid_drain_stops_evicting_records_interrupted_and_exits_0_within_the_grace_period(
    ha: HaSession, cluster: DrainNodes
) -> None:
    core, ns = cluster.core, cluster.namespace
    node = cluster.node()
    loose(ha.api, ns, "loose", node)
    held(ha.api, ns, "held", node)
    (loose_pod,) = wait_running(core, ns, "loose", 1, node)
    held_pods = wait_running(core, ns, "held", 2, node)
    wait_pdb_blocks(ha.api, ns, "held-pdb", 2)
    a, b = ha.start(ha.config(), "a", "b")

    run = start_run(a, ha.slack, f"drain {node} --timeout 5m", node)
    wait_update(ha.slack, run.ts, "evicted 1/3 pods", "waiting on PDB held-pdb for 2 pods")
    wait_for(
        "the drain's account to show the evicted pod",
        lambda: True if loose_pod in account_of(ha.store, ha.run(run.id)).text() else None,
        30,
    )
    termed = a.send_term()
    # Once a has taken the signal (readiness fails, or it is already gone), the PDB lets go: a drain
    # that kept going through the grace period (the old behaviour) would now evict the held pods.
    wait_for("a to take SIGTERM", lambda: True if not a.running() or not a.ready() else None, 30, interval=0.05)
    relax(ha.api, ns, "held-pdb")
    exited = a.wait_exit(timeout=GRACE + 60)
    print(f"\nSIGTERM → exit {exited.code} after {exited.seconds:.1f}s (grace {GRACE:.0f}s)")
    assert exited.code == 0, a.tail()
    assert exited.seconds <= GRACE, f"exited {exited.seconds:.1f}s after SIGTERM; grace is {GRACE:.0f}s"

    rec = ha.run(run.id)
    assert rec.state == "interrupted", rec.outcome
    outcome = rec.outcome or ""
    assert outcome.startswith("interrupted: the bot was shutting down"), outcome
    assert f"evicted 1 of 3 pods from node {node}: {loose_pod}." in outcome, outcome
    assert f"2 pod(s) still on node {node}: {', '.join(held_pods)}." in outcome, outcome
    assert rec.finished_at is not None
    assert rec.finished_at.timestamp() - termed <= GRACE
    (event,) = [e for e in ha.store.audit_events(run_id=run.id, limit=100) if e.kind == "interrupted"]
    assert "by" not in event.detail, "recorded by the stopping replica itself, not by recovery"

    final = final_update(ha.slack, run.ts, "interrupted")
    words = text_of(final)
    assert "Interrupted:" in words, words
    assert "the bot was shutting down" in words, words
    assert f"2 pod(s) still on node {node}" in words, words
    assert actions_of(final) == [], "no Abort button on an interrupted run"

    wait_pdb_allows(ha.api, ns, "held-pdb", 2)
    assert [e for e in evictions(ha.cp, ns) if e.at >= termed and e.code < 300] == []
    assert sorted(f"{ns}/{p.metadata.name}" for p in live_pods(core, ns, "held")) == held_pods
    assert b.running()
    assert "taken_over" not in ha.audit_kinds(run.id)


def test_kill_9_of_a_replace_node_releases_its_group_only_when_marked_interrupted(
    ha: HaSession, cluster: DrainNodes
) -> None:
    # A wider staleness window here, so the "still claimed" check surely falls between the kill and
    # the interruption on a busy machine.
    stale = 15.0
    core, ns = cluster.core, cluster.namespace
    with moto_server() as moto_url, node_replacers(ha.api):
        aws = Aws(moto_url)
        group = aws.group(unique_name("asg-ha"), 3)
        joiner = KubeletJoiner(core, lambda: aws.in_service(group), {"ha-pool": unique_name("p")}, "ip").start()
        try:
            for name in joiner.nodes.values():
                wait_node_ready(core, name)
            (victim, victim_instance), (other, _) = sorted(((n, i) for i, n in joiner.nodes.items()))[:2]
            held(ha.api, ns, "held", victim)
            held_pods = wait_running(core, ns, "held", 2, victim)
            wait_pdb_blocks(ha.api, ns, "held-pdb", 2)
            config = ha.config(execution={"stale_after_seconds": stale}, cloud=aws_cloud(moto_url))
            a, b = ha.start(config, "a", "b")

            run = start_run(a, ha.slack, f"replace-node {victim} --wait 2m", victim)
            wait_update(ha.slack, run.ts, "evicted 0/2 pods", "waiting on PDB held-pdb for 2 pods")
            (claim,) = [e for e in ha.store.audit_events(run_id=run.id, limit=100) if e.kind == "replacement_claim"]
            key = str(claim.detail["key"])
            killed = a.kill9()

            # Killed but not yet stale: its claim still holds the group.
            refused = refusal(b, ha.slack, f"replace-node {other} --wait 2m", "another replacement is in progress")
            assert f"node {victim} (run {run.id}" in text_of(refused), text_of(refused)
            rec = ha.run(run.id)
            assert rec.state == "running", "refused only while the killed run is not yet marked interrupted"
            assert (holder := ha.store.group_claim_holder(key, ("running", "aborting")))
            assert holder.run_id == run.id

            rec = ha.wait_state(run.id, {"interrupted", "succeeded", "failed", "aborted"}, stale + EVERY + 60)
            assert rec.state == "interrupted", rec.outcome
            assert rec.finished_at is not None
            noticed = rec.finished_at.timestamp() - killed
            assert noticed <= stale + EVERY + SLACK_SECONDS, f"marked interrupted {noticed:.1f}s after the kill"
            assert ha.store.group_claim_holder(key, ("running", "aborting")) is None

            # Released with the interruption: the next replacement in the group is planned.
            plan = request_plan(b, ha.slack, f"replace-node {other} --wait 2m", other)
            assert "rb_confirm" in actions_of(plan)

            final = final_update(ha.slack, run.ts, "interrupted")
            words = text_of(final)
            assert "Interrupted:" in words, words
            assert f"Not done: 2 pod(s) still on node {victim}: {', '.join(held_pods)}" in words, words
            assert "terminate it keeping the desired capacity" in words.split("Not done:")[1], words
            assert actions_of(final) == []
            assert aws.state(victim_instance) == "running", "nothing terminated"
            assert [e for e in evictions(ha.cp, ns) if e.at >= killed] == []
            assert not joiner.errors, joiner.errors
        finally:
            cluster.close()  # the pods first: on a node already deleted, nothing would finish them
            joiner.stop()


ACK_LIMIT = 3.0  # Slack's contract: an unacknowledged request is shown to the user as failed


def test_ack_under_load_50_commands_and_an_abort_are_answered_within_3s_while_8_drains_run(
    ha: HaSession, cluster: DrainNodes
) -> None:
    core, ns = cluster.core, cluster.namespace
    nodes = [cluster.node() for _ in range(8)]
    for i, node in enumerate(nodes):
        held(ha.api, ns, f"held-{i}", node, replicas=1)
    for i, node in enumerate(nodes):
        wait_running(core, ns, f"held-{i}", 1, node)
        wait_pdb_blocks(ha.api, ns, f"held-{i}-pdb", 1)
    (a,) = ha.start(ha.config(execution={"workers": 8, "per_user": 8}), "a")

    for node in nodes:
        slash(a, ha.slack, f"drain {node} --timeout 5m")
    plans = [wait_plan(ha.slack, node) for node in nodes]
    for plan in plans:
        click(a, plan, "rb_confirm", REQUESTER)
    runs = [SlackRun(run_id_of(plan), str(plan.args["ts"])) for plan in plans]
    for run in runs:
        wait_update(ha.slack, run.ts, "evicted 0/1 pods", "waiting on PDB", timeout=120)
    assert all(ha.run(run.id).state == "running" for run in runs)

    progress = wait_update(ha.slack, runs[0].ts, "waiting on PDB")
    bodies = [
        slash_command_body("status", user_id=REQUESTER, channel_id=STAGING, response_url=ha.slack.response_url(f"s{i}"))
        for i in range(50)
    ]
    bodies.append(action_body(progress, "rb_abort", REQUESTER))
    start_together = threading.Barrier(len(bodies))

    def send(body: str) -> tuple[int, float]:
        headers = signed_headers(SIGNING_SECRET, body)
        start_together.wait()
        began = time.perf_counter()
        status, _ = a.post("/slack/events", body, headers)
        return status, time.perf_counter() - began

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = list(pool.map(send, bodies))
    slowest = max(seconds for _, seconds in answers)
    print(f"\n51 requests at once while 8 drains run: slowest ack {slowest * 1000:.0f} ms")
    assert [status for status, _ in answers] == [200] * len(bodies)
    assert slowest < ACK_LIMIT, sorted(round(s, 2) for _, s in answers)

    final = final_update(ha.slack, runs[0].ts, "aborted", timeout=120)
    assert "Aborted:" in text_of(final)
    assert actions_of(final) == []
    assert ha.run(runs[0].id).state == "aborted"
    assert [ha.run(run.id).state for run in runs[1:]] == ["running"] * 7
    ha.slack.wait_match(
        "chat.postMessage", lambda c: c.args.get("channel") == STAGING and "Cluster staging" in text_of(c), 50, 180
    )


def test_a_run_waiting_for_its_turn_is_kept_by_its_live_owner_and_never_taken_over(
    ha: HaSession, cluster: DrainNodes
) -> None:
    core, ns = cluster.core, cluster.namespace
    nodes = [cluster.node() for _ in range(3)]
    for i, node in enumerate(nodes):
        held(ha.api, ns, f"held-{i}", node)
    for i, node in enumerate(nodes):
        wait_running(core, ns, f"held-{i}", 2, node)
        wait_pdb_blocks(ha.api, ns, f"held-{i}-pdb", 2)
    a, b = ha.start(ha.config(execution={"per_user": 1}), "a", "b")

    running = start_run(a, ha.slack, f"drain {nodes[0]} --timeout 5m", nodes[0])
    wait_update(ha.slack, running.ts, "waiting on PDB")
    waiting = start_run(a, ha.slack, f"drain {nodes[1]} --timeout 5m", nodes[1])
    dropped = start_run(a, ha.slack, f"drain {nodes[2]} --timeout 5m", nodes[2])
    queued_at = datetime.now(UTC)
    # alice may have one run executing: the others wait in a's queue. b looks for stale runs every
    # second; a run waiting its turn with a live owner is not stale, however long it waits.
    beyond = queued_at + timedelta(seconds=3 * STALE)

    def kept_waiting_long_enough() -> bool | None:
        recs = [ha.run(run.id) for run in (waiting, dropped)]
        for rec in recs:
            assert rec.state == "queued", (rec.state, rec.owner_id, rec.outcome)
            assert owner_of(a, rec), rec.owner_id
        return True if all(rec.heartbeat_at and rec.heartbeat_at >= beyond for rec in recs) else None

    wait_for("waiting runs heart-beaten beyond three staleness windows", kept_waiting_long_enough, 3 * STALE + 60)
    for run in (waiting, dropped):
        assert not NEVER & set(ha.audit_kinds(run.id)), ha.audit_kinds(run.id)

    for run, ahead in ((waiting, "1 run"), (dropped, "2 runs")):
        wait_update(ha.slack, run.ts, f"queued behind {ahead} of your own (at most 1 of one person's runs")

    # Aborted (through b) while it waits: it ends at once and leaves a's line without running.
    starting = wait_update(ha.slack, dropped.ts, "Starting:")
    assert actions_of(starting) == ["rb_abort"], "a run waiting its turn can be aborted"
    click(b, starting, "rb_abort", REQUESTER)
    gone = wait_update(ha.slack, dropped.ts, "Aborted:", "aborted before it started; nothing was done")
    assert actions_of(gone) == []
    wait_for(
        "a to drop the aborted run from its line",
        lambda: True if any(dropped.id in line for line in a.log().splitlines() if "left the line" in line) else None,
        30,
    )

    abort_through(ha, b, running)  # alice's turn is free: the waiting run starts where it waited
    wait_update(ha.slack, waiting.ts, "evicted 0/2 pods", "waiting on PDB")
    rec = ha.run(waiting.id)
    assert rec.state == "running"
    assert owner_of(a, rec)
    assert not NEVER & set(ha.audit_kinds(waiting.id)), ha.audit_kinds(waiting.id)
    assert ha.run(dropped.id).state == "aborted"
    assert "step_started" not in ha.audit_kinds(dropped.id)
    assert [c for c in ha.slack.of("chat.update") if c.args.get("ts") == dropped.ts][-1] is gone


def test_sigterm_hands_runs_waiting_their_turn_to_the_other_replica_at_once(ha: HaSession, cluster: DrainNodes) -> None:
    core, ns = cluster.core, cluster.namespace
    first, second = cluster.node(), cluster.node()
    held(ha.api, ns, "held-one", first)
    held(ha.api, ns, "held-two", second)
    wait_running(core, ns, "held-one", 2, first)
    wait_running(core, ns, "held-two", 2, second)
    wait_pdb_blocks(ha.api, ns, "held-one-pdb", 2)
    wait_pdb_blocks(ha.api, ns, "held-two-pdb", 2)
    # A long staleness window: a prompt takeover can only come from the hand-back, not from staleness.
    a, b = ha.start(ha.config(execution={"per_user": 1, "stale_after_seconds": 60}), "a", "b")

    running = start_run(a, ha.slack, f"drain {first} --timeout 5m", first)
    wait_update(ha.slack, running.ts, "waiting on PDB")
    waiting = start_run(a, ha.slack, f"drain {second} --timeout 5m", second)
    wait_update(ha.slack, waiting.ts, "queued behind 1 run of your own")

    termed = a.send_term()
    exited = a.wait_exit(timeout=GRACE + 60)
    assert exited.code == 0, a.tail()
    assert ha.run(running.id).state == "interrupted"
    rec = ha.wait_state(waiting.id, {"running"}, 30)
    assert owner_of(b, rec), "handed back on SIGTERM, taken over by the other replica"
    assert rec.started_at is not None
    assert rec.started_at.timestamp() - termed < 30, "at once, not after the 60 s staleness window"
    assert ha.audit_kinds(waiting.id).count("taken_over") == 1
    progress = wait_update(ha.slack, waiting.ts, "evicted 0/2 pods", "waiting on PDB held-two-pdb")
    assert actions_of(progress) == ["rb_abort"]
