"""Trust: RBAC authorization, impersonation, confirmation, two-person approval, against the real API server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from bot.engine.bootstrap import Bot, build_bot
from bot.engine.identity import IdentityMapper
from bot.model import Requester
from bot.store import RunRecord
from tests.harness.control_plane import ControlPlane
from tests.harness.kwok_nodes import create_node, unique_name, wait_node_ready
from tests.harness.trust_setup import grant, settings, settings_doc

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def granted(kube_api_client: client.ApiClient) -> None:
    grant(kube_api_client)


@pytest.fixture
def bot(control_plane: ControlPlane, granted: None, store_url: str) -> Iterator[Bot]:
    b = build_bot(settings(control_plane.admin_kubeconfig, store_url))
    yield b
    b.close()


@pytest.fixture
def node(kube_api_client: client.ApiClient) -> str:
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("trust")
    create_node(core, name)
    wait_node_ready(core, name)
    return name


def who(bot: Bot, chat_id: str) -> Requester:
    return IdentityMapper(bot.settings.identity).requester(chat_id)


def cordoned(api: client.ApiClient, name: str) -> bool:
    return bool(client.CoreV1Api(api).read_node(name).spec.unschedulable)


def patches(cp: ControlPlane, node: str, run_id: str) -> list[dict[str, Any]]:
    """Audit events of PATCH on the node made for this run (as the impersonated requester), dry runs aside."""
    return [
        e
        for e in cp.read_audit_events()
        if e.get("verb") == "patch"
        and "dryRun" not in e.get("requestURI", "")
        and (e.get("objectRef") or {}).get("name") == node
        and (e.get("objectRef") or {}).get("resource") == "nodes"
        and run_id in json.dumps((e.get("impersonatedUser") or {}).get("extra"))
    ]


def request(bot: Bot, text: str, chat_id: str) -> tuple[str, str]:
    out = bot.runs.request(text, who(bot, chat_id))
    assert out.ok, out.report
    assert out.pending, out.report
    assert out.run_id, out.report
    rec = bot.store.get_run(out.run_id)
    assert rec is not None
    return rec.id, rec.plan_hash


def test_missing_rbac_is_refused_with_the_permission_named_and_nothing_changes(
    bot: Bot, node: str, kube_api_client: client.ApiClient
) -> None:
    out = bot.runs.request(f"cordon {node}", who(bot, "U0MALLORY"))
    assert not out.ok
    assert out.report is not None
    assert out.report.title == "Not allowed"
    assert out.report.summary == f"mallory may not patch nodes `{node}` (cluster-wide) on cluster staging"
    assert not cordoned(kube_api_client, node)
    assert bot.store.get_run(out.run_id or "").state == "denied"  # type: ignore[union-attr]


def test_confirmed_cordon_runs_as_alice_with_both_groups_and_the_run_id(
    bot: Bot, node: str, control_plane: ControlPlane, kube_api_client: client.ApiClient
) -> None:
    run_id, plan_hash = request(bot, f"cordon {node}", "U0ALICE")
    assert not cordoned(kube_api_client, node), "nothing may change before confirmation"
    decision = bot.runs.confirm(run_id, plan_hash, who(bot, "U0ALICE"))
    assert decision.execute
    final = bot.runs.execute(run_id)
    assert final.title.startswith("Done: cordon on staging")
    assert cordoned(kube_api_client, node)
    (event,) = patches(control_plane, node, run_id)
    assert event["user"]["username"] == "admin"  # the bot's own credentials…
    imp = event["impersonatedUser"]  # …acting as the human
    assert imp["username"] == "alice"
    assert {"oncall", "sre"} <= set(imp["groups"])
    assert imp["extra"]["runbook-bot.run-id"] == [run_id]
    kinds = [e.kind for e in reversed(bot.store.audit_events(run_id=run_id))]
    assert kinds == ["requested", "planned", "confirmed", "step_started", "step_finished", "succeeded"]


def test_only_the_requester_confirms_and_cancel_changes_nothing(
    bot: Bot, node: str, kube_api_client: client.ApiClient
) -> None:
    run_id, plan_hash = request(bot, f"cordon {node}", "U0ALICE")
    assert "who asked, can confirm" in (bot.runs.confirm(run_id, plan_hash, who(bot, "U0BOB")).notice or "")
    assert bot.runs.cancel(run_id, plan_hash, who(bot, "U0ALICE"), "wrong node").report is not None
    assert bot.store.get_run(run_id).state == "cancelled"  # type: ignore[union-attr]
    assert "already cancelled" in (bot.runs.confirm(run_id, plan_hash, who(bot, "U0ALICE")).notice or "")
    assert not cordoned(kube_api_client, node)


def awaiting_approval(bot: Bot, node: str, cluster: str = "prod", requester: str = "U0ALICE") -> tuple[str, str]:
    run_id, plan_hash = request(bot, f"cordon {node} --cluster {cluster}", requester)
    decision = bot.runs.confirm(run_id, plan_hash, who(bot, requester))
    assert not decision.execute
    assert bot.store.get_run(run_id).state == "awaiting_approval"  # type: ignore[union-attr]
    return run_id, plan_hash


def test_approval_rules(bot: Bot, node: str, kube_api_client: client.ApiClient, control_plane: ControlPlane) -> None:
    run_id, h = awaiting_approval(bot, node)
    self_approval = bot.runs.approve(run_id, h, who(bot, "U0ALICE"))
    assert self_approval.notice == "you cannot approve your own request (two-person rule)"
    outsider = bot.runs.approve(run_id, h, who(bot, "U0DAVE"))
    assert outsider.notice == "you are not an approver for this request (approvers: group leads)"
    no_rbac = bot.runs.approve(run_id, h, who(bot, "U0CAROL"))
    assert no_rbac.notice == (
        f"you may not approve what you could not do yourself: carol may not patch nodes `{node}` (cluster-wide)"
    )
    assert not cordoned(kube_api_client, node)
    stale = bot.runs.approve(run_id, "0" * 64, who(bot, "U0BOB"))
    assert stale.notice is not None
    assert "older plan" in stale.notice
    ok = bot.runs.approve(run_id, h, who(bot, "U0BOB"))
    assert ok.execute
    bot.runs.execute(run_id)
    assert cordoned(kube_api_client, node)
    (event,) = patches(control_plane, node, run_id)
    assert event["impersonatedUser"]["extra"]["runbook-bot.approvers"] == ["bob"]
    replay = bot.runs.approve(run_id, h, who(bot, "U0ERIN"))
    assert replay.notice == "this request is already succeeded — the button does nothing now"
    refused = [e.summary for e in bot.store.audit_events(run_id=run_id) if e.kind == "approval_refused"]
    assert len(refused) == 3


def test_two_distinct_approvers_when_two_are_required(bot: Bot, node: str, kube_api_client: client.ApiClient) -> None:
    run_id, h = awaiting_approval(bot, node, cluster="prod2")
    first = bot.runs.approve(run_id, h, who(bot, "U0BOB"))
    assert not first.execute
    assert first.notice == "approved (1 of 2)"
    again = bot.runs.approve(run_id, h, who(bot, "U0BOB"))
    assert again.notice == "you have already decided on this request"
    assert not cordoned(kube_api_client, node)
    second = bot.runs.approve(run_id, h, who(bot, "U0ERIN"))
    assert second.execute
    bot.runs.execute(run_id)
    assert cordoned(kube_api_client, node)


def test_a_second_slack_account_of_the_requester_cannot_approve(
    bot: Bot, node: str, kube_api_client: client.ApiClient
) -> None:
    run_id, h = awaiting_approval(bot, node)  # alice asked
    refused = bot.runs.approve(run_id, h, who(bot, "U0ALICE2"))
    assert not refused.execute
    assert refused.notice == (
        "you cannot approve this request: your Slack account acts as alice, the Kubernetes user who asked "
        "(two-person rule)"
    )
    assert not cordoned(kube_api_client, node)
    assert [a.kube_user for a in bot.store.approvals(run_id)] == []


def test_two_slack_accounts_of_one_approver_count_once(bot: Bot, node: str, kube_api_client: client.ApiClient) -> None:
    run_id, h = awaiting_approval(bot, node, cluster="prod2")  # needs two distinct approvers
    assert bot.runs.approve(run_id, h, who(bot, "U0BOB")).notice == "approved (1 of 2)"
    second_account = bot.runs.approve(run_id, h, who(bot, "U0BOB2"))
    assert not second_account.execute
    assert second_account.notice == "bob has already decided on this request from another Slack account"
    assert not cordoned(kube_api_client, node)
    assert bot.runs.approve(run_id, h, who(bot, "U0ERIN")).execute
    bot.runs.execute(run_id)
    assert cordoned(kube_api_client, node)
    assert sorted(a.kube_user or "" for a in bot.store.approvals(run_id)) == ["bob", "erin"]


def test_a_deny_after_an_approval_is_what_the_approvals_table_keeps(bot: Bot, node: str) -> None:
    run_id, h = awaiting_approval(bot, node, cluster="prod2")
    assert bot.runs.approve(run_id, h, who(bot, "U0BOB")).notice == "approved (1 of 2)"
    denied = bot.runs.deny(run_id, h, who(bot, "U0BOB"), "changed my mind: wrong node")
    assert denied.report is not None
    (decision,) = bot.store.approvals(run_id)
    assert (decision.kube_user, decision.decision, decision.reason) == ("bob", "deny", "changed my mind: wrong node")
    rec = bot.store.get_run(run_id)
    assert rec is not None
    assert rec.state == "denied"


def test_a_requester_without_any_rights_hears_every_permission_needed(bot: Bot, node: str) -> None:
    nobody = bot.runs.request(f"drain {node}", who(bot, "U0NOBODY"))
    partial = bot.runs.request(f"drain {node}", who(bot, "U0MALLORY"))
    assert nobody.report is not None
    assert partial.report is not None
    assert nobody.report.title == partial.report.title == "Not allowed"
    assert nobody.report.summary is not None
    assert nobody.report.summary.startswith("nobody may not get nodes")
    for needed in ("patch nodes", "create pods/eviction", "list pods"):
        assert needed in nobody.report.summary, nobody.report.summary
    assert "the cluster refused" not in nobody.report.summary
    assert "may not patch nodes" in (partial.report.summary or "")


def test_an_expired_request_cannot_be_approved(bot: Bot, node: str, kube_api_client: client.ApiClient) -> None:
    run_id, h = awaiting_approval(bot, node)
    later = datetime.now(UTC) + timedelta(minutes=16)
    bot.runs.clock = lambda: later
    late = bot.runs.approve(run_id, h, who(bot, "U0BOB"))
    assert late.notice is not None
    assert "expired" in late.notice
    assert bot.store.get_run(run_id).state == "expired"  # type: ignore[union-attr]
    assert not cordoned(kube_api_client, node)


def test_a_double_clicked_approve_executes_exactly_once(
    bot: Bot, node: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    run_id, h = awaiting_approval(bot, node)
    barrier = threading.Barrier(6)
    executed: list[bool] = []

    def click(chat_id: str) -> None:
        barrier.wait()
        decision = bot.runs.approve(run_id, h, who(bot, chat_id))
        executed.append(decision.execute)
        if decision.execute:
            bot.runs.execute(run_id)

    threads = [threading.Thread(target=click, args=(u,)) for u in ["U0BOB"] * 3 + ["U0ERIN"] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert executed.count(True) == 1
    assert cordoned(kube_api_client, node)
    assert len(patches(control_plane, node, run_id)) == 1


def test_deny_needs_an_approver_and_records_the_reason(bot: Bot, node: str, kube_api_client: client.ApiClient) -> None:
    run_id, h = awaiting_approval(bot, node)
    assert "not an approver" in (bot.runs.deny(run_id, h, who(bot, "U0DAVE"), "no").notice or "")
    denied = bot.runs.deny(run_id, h, who(bot, "U0CAROL"), "change freeze until Monday")
    assert denied.report is not None
    rec = bot.store.get_run(run_id)
    assert rec is not None
    assert rec.state == "denied"
    assert rec.outcome == "denied by U0CAROL: change freeze until Monday"
    assert not cordoned(kube_api_client, node)


def test_break_glass_needs_the_group_and_a_reason(bot: Bot, node: str, kube_api_client: client.ApiClient) -> None:
    run_id, h = awaiting_approval(bot, node, requester="U0ALICE")
    assert (
        bot.runs.break_glass(run_id, h, who(bot, "U0ALICE"), "node is on fire").notice
        == "you are not in a break-glass group"
    )
    run_id, h = awaiting_approval(bot, node, requester="U0GLASS")
    assert "at least 10" in (bot.runs.break_glass(run_id, h, who(bot, "U0GLASS"), "now").notice or "")
    decision = bot.runs.break_glass(run_id, h, who(bot, "U0GLASS"), "disk failing, SEV1 INC-123")
    assert decision.execute
    bot.runs.execute(run_id)
    assert cordoned(kube_api_client, node)
    kinds = [e.kind for e in bot.store.audit_events(run_id=run_id)]
    assert "break_glass" in kinds


def test_the_plan_changed_between_approval_and_execution(
    bot: Bot, node: str, kube_api_client: client.ApiClient
) -> None:
    run_id, h = awaiting_approval(bot, node)
    client.CoreV1Api(kube_api_client).patch_node(node, {"spec": {"unschedulable": True}})  # someone else acts
    decision = bot.runs.approve(run_id, h, who(bot, "U0BOB"))
    assert decision.execute
    report = bot.runs.execute(run_id)
    rec = bot.store.get_run(run_id)
    assert rec is not None
    assert rec.state == "replan_required"
    assert "nothing was done" in (rec.outcome or "")
    assert any("already cordoned" in line for p in report.parts for line in getattr(p, "lines", []))


def test_runs_and_audit_runbooks_show_who_approved(bot: Bot, node: str) -> None:
    run_id, h = awaiting_approval(bot, node)
    bot.runs.approve(run_id, h, who(bot, "U0BOB"))
    bot.runs.execute(run_id)
    runs = bot.runs.request("runs", who(bot, "U0DAVE"))
    rows = [r for p in runs.report.parts for r in getattr(p, "rows", [])]  # type: ignore[union-attr]
    (row,) = [r for r in rows if r[0] == run_id]
    assert row[1] == f"cordon {node} --cluster prod"
    assert row[4] == "succeeded"
    assert row[5] == "U0BOB"
    audit = bot.runs.request(f"audit 50 --run {run_id}", who(bot, "U0DAVE"))
    events = [r for p in audit.report.parts for r in getattr(p, "rows", [])]  # type: ignore[union-attr]
    assert {"requested", "confirmed", "approval_requested", "approved", "succeeded"} <= {e[3] for e in events}


def test_a_queued_run_of_a_dead_process_is_taken_over_by_recovery_and_runs_once(
    control_plane: ControlPlane, granted: None, node: str, tmp_path: Path, kube_api_client: client.ApiClient
) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    first = build_bot(settings(control_plane.admin_kubeconfig, url))
    run_id, h = request(first, f"cordon {node}", "U0ALICE")
    assert first.runs.confirm(run_id, h, who(first, "U0ALICE")).execute
    first.store.update_run(run_id, heartbeat_at=datetime.now(UTC) - timedelta(minutes=10))
    first.close()  # the process dies before executing
    second = build_bot(settings(control_plane.admin_kubeconfig, url))
    try:
        queued = second.store.get_run(run_id)
        assert queued is not None, "starting a process recovers nothing"
        assert queued.state == "queued", "starting a process recovers nothing"
        assert second.runs.recover() == [run_id]
        assert second.runs.recover() == [], "taken over once"
        rec = wait_for_state(second, run_id, {"succeeded", "failed"})
        assert rec.state == "succeeded", rec.outcome
        assert rec.owner_id == second.runs.owner_id
        assert client.CoreV1Api(kube_api_client).read_node(node).spec.unschedulable is True
        kinds = [e.kind for e in second.store.audit_events(run_id=run_id, limit=100)]
        assert kinds.count("taken_over") == 1
        assert kinds.count("succeeded") == 1
    finally:
        second.runs.shutdown(5)
        second.close()


def test_a_running_run_whose_owner_went_silent_is_interrupted_with_its_account(
    control_plane: ControlPlane, granted: None, node: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    first = build_bot(settings(control_plane.admin_kubeconfig, url))
    run_id, h = request(first, f"cordon {node}", "U0ALICE")
    assert first.runs.confirm(run_id, h, who(first, "U0ALICE")).execute
    silent = datetime.now(UTC) - timedelta(minutes=10)
    assert first.store.transition(run_id, ["queued"], "running", owner=first.runs.owner_id, heartbeat_at=silent)
    first.close()  # the owner dies while executing
    second = build_bot(settings(control_plane.admin_kubeconfig, url))
    try:
        running = second.store.get_run(run_id)
        assert running is not None, "starting a process recovers nothing"
        assert running.state == "running", "starting a process recovers nothing"
        assert second.runs.recover() == [run_id]
        rec = second.store.get_run(run_id)
        assert rec is not None
        assert rec.state == "interrupted"
        assert f"({first.runs.owner_id}) stopped (last heartbeat {silent:%H:%M:%S} UTC)" in (rec.outcome or "")
        assert f"Not done: cordon node {node}" in (rec.outcome or "")
        assert "Check the cluster before retrying" in (rec.outcome or "")
    finally:
        second.close()


def wait_for_state(bot: Bot, run_id: str, states: set[str], timeout: float = 30.0) -> RunRecord:
    """The run once it is in one of ``states`` (AssertionError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        rec = bot.store.get_run(run_id)
        assert rec is not None
        if rec.state in states:
            return rec
        assert time.monotonic() < deadline, f"run {run_id} still {rec.state} after {timeout}s"
        time.sleep(0.1)


def test_a_restarted_process_still_honours_the_pending_approval(
    control_plane: ControlPlane,
    granted: None,
    node: str,
    store_url: str,
    tmp_path: Path,
    kube_api_client: client.ApiClient,
) -> None:
    """Process 1 (alice) requests and confirms, then exits; process 2 (bob) approves: it runs once."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings_doc(control_plane.admin_kubeconfig, store_url)))

    def shell(as_user: str, stdin: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(config), "shell", "--as", as_user],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
        )
        return proc.stdout + proc.stderr

    first = shell("alice", f"cordon {node} --cluster prod\ny\n")
    match = re.search(r"approve ([0-9a-f]{8})", first)
    assert match, first
    run_id = match.group(1)
    assert not cordoned(kube_api_client, node)
    second = shell("bob", f"approve {run_id}\ny\napprove {run_id}\ny\n")
    assert "Done: cordon on prod" in second, second
    assert "already succeeded" in second  # the second approval is a replay and does nothing
    assert cordoned(kube_api_client, node)
    assert len(patches(control_plane, node, run_id)) == 1


def test_the_run_history_and_audit_trail_need_their_configured_permissions(bot: Bot) -> None:
    for command, resource in (("runs", "runs.runbook-bot.io"), ("audit", "auditevents.runbook-bot.io")):
        refused = bot.runs.request(command, who(bot, "U0NOBODY"))
        assert refused.report is not None
        assert refused.report.title == "Not allowed"
        assert f"nobody may not list {resource}" in (refused.report.summary or "")
        assert bot.runs.request(command, who(bot, "U0DAVE")).ok
