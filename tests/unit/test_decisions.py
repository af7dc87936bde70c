"""The fast tier of the approval rules: decisions on stored runs with an authorizer answering from a table.

The same rules the SubjectAccessReview-backed tests (tests/integration/test_trust.py) exercise on
the real API server, here without a cluster: SQLite, a table of who may do what, a movable clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config.settings import ApprovalRule, Settings
from bot.engine.decisions import RunDecisions
from bot.engine.ledger import RunLedger
from bot.model import Permission, Requester
from bot.report import Report, report_to_dict
from bot.store import RunRecord, RunState, Store

PATCH_NODE = Permission(verb="patch", resource="nodes", name="n1")
ALICE = Requester("U0ALICE", "Alice", "alice", ("oncall", "sre"))
ALICE2 = Requester("U0ALICE2", "Alice (2nd)", "alice", ("leads",))
BOB = Requester("U0BOB", "Bob", "bob", ("sre", "leads"))
BOB2 = Requester("U0BOB2", "Bob (2nd)", "bob", ("sre", "leads"))
ERIN = Requester("U0ERIN", "Erin", "erin", ("sre", "leads"))
CAROL = Requester("U0CAROL", "Carol", "carol", ("leads",))  # in the set, without the RBAC
DAVE = Requester("U0DAVE", "Dave", "dave", ("sre",))  # the RBAC, not in the set
GWEN = Requester("U0GLASS", "Gwen", "gwen", ("sre", "breakglass"))


class TableAuthorizer:
    """Answers like SubjectAccessReview, from a table of user → permissions held."""

    def __init__(self, held: dict[str, set[Permission]]) -> None:
        self.held = held

    def missing_permissions(
        self, cluster: str, requester: Requester, permissions: Sequence[Permission]
    ) -> list[Permission]:
        """What ``requester`` lacks."""
        return [p for p in permissions if p not in self.held.get(requester.kube_user or "", set())]


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def decisions(tmp_path: Path, clock: Clock) -> Iterator[RunDecisions]:
    settings = Settings(policies={"break_glass": {"groups": ["breakglass"], "min_reason_length": 10}})
    with Store.open(f"sqlite:///{tmp_path / 's.db'}", clock=clock) as store:
        ledger = RunLedger(store, settings, clock)
        held = {u: {PATCH_NODE} for u in ("alice", "bob", "erin", "dave", "gwen")}
        yield RunDecisions(ledger, TableAuthorizer(held), owner_id="test-owner", admit=lambda _rec: None)


def awaiting_approval(d: RunDecisions, requester: Requester = ALICE, approvals: int = 1) -> str:
    """A run of ``requester`` confirmed, waiting for ``approvals`` approvals from group leads."""
    rule = ApprovalRule(approvals=approvals, approvers={"groups": ["leads"]})
    rec = RunRecord(
        id=f"r{approvals}{requester.chat_id}",
        runbook="cordon",
        risk="destructive",
        cluster="local",
        namespace="default",
        command="cordon n1",
        requester_chat_id=requester.chat_id,
        requester_name=requester.display_name,
        kube_user=requester.kube_user,
        kube_groups=list(requester.kube_groups),
        state=RunState.AWAITING_CONFIRMATION,
        plan={
            **report_to_dict(Report(title="cordon on local")),
            "permissions_json": [PATCH_NODE.model_dump(mode="json")],
        },
        plan_hash="h1",
        approvals_required=approvals,
        policy={**rule.model_dump(mode="json"), "break_glass_allowed": "breakglass" in requester.kube_groups},
        expires_at=d.ledger.clock() + timedelta(minutes=15),
    )
    d.ledger.store.create_run(rec)
    assert not d.confirm(rec.id, "h1", requester).execute
    return rec.id


def state(d: RunDecisions, run_id: str) -> str:
    return d.ledger.get(run_id).state


def test_the_requester_cannot_approve_under_any_slack_account(decisions: RunDecisions) -> None:
    run = awaiting_approval(decisions)
    assert decisions.approve(run, "h1", ALICE).notice == "you cannot approve your own request (two-person rule)"
    assert "acts as alice, the Kubernetes user who asked" in (decisions.approve(run, "h1", ALICE2).notice or "")
    assert state(decisions, run) == RunState.AWAITING_APPROVAL


def test_an_approver_needs_the_set_and_the_rbac(decisions: RunDecisions) -> None:
    run = awaiting_approval(decisions)
    assert "you are not an approver" in (decisions.approve(run, "h1", DAVE).notice or "")
    assert "carol may not patch nodes `n1`" in (decisions.approve(run, "h1", CAROL).notice or "")
    ok = decisions.approve(run, "h1", BOB)
    assert ok.execute
    assert state(decisions, run) == RunState.QUEUED
    assert decisions.ledger.get(run).owner_id == "test-owner"


def test_two_approvals_need_two_people_not_two_accounts(decisions: RunDecisions) -> None:
    run = awaiting_approval(decisions, approvals=2)
    assert decisions.approve(run, "h1", BOB).notice == "approved (1 of 2)"
    assert "bob has already decided" in (decisions.approve(run, "h1", BOB2).notice or "")
    assert decisions.approve(run, "h1", BOB).notice == "you have already decided on this request"
    assert decisions.approve(run, "h1", ERIN).execute


def test_stale_expired_and_replayed_clicks_do_nothing_but_say_so(decisions: RunDecisions, clock: Clock) -> None:
    run = awaiting_approval(decisions)
    assert "older plan" in (decisions.approve(run, "h0", BOB).notice or "")
    clock.now += timedelta(minutes=16)
    assert "expired at" in (decisions.approve(run, "h1", BOB).notice or "")
    assert state(decisions, run) == RunState.EXPIRED
    assert "already expired" in (decisions.approve(run, "h1", BOB).notice or "")


def test_a_deny_after_an_approval_replaces_it(decisions: RunDecisions) -> None:
    run = awaiting_approval(decisions, approvals=2)
    decisions.approve(run, "h1", BOB)
    decisions.deny(run, "h1", BOB, "wrong node")
    assert [(a.kube_user, a.decision) for a in decisions.ledger.store.approvals(run)] == [("bob", "deny")]
    assert state(decisions, run) == RunState.DENIED


def test_break_glass_needs_the_group_and_a_reason(decisions: RunDecisions) -> None:
    run = awaiting_approval(decisions, requester=GWEN)
    assert "at least 10 characters" in (decisions.break_glass(run, "h1", GWEN, "now").notice or "")
    assert decisions.break_glass(run, "h1", GWEN, "prod is down, paging").execute
    assert decisions.ledger.get(run).break_glass_reason == "prod is down, paging"
    other = awaiting_approval(decisions)
    assert (
        decisions.break_glass(other, "h1", ALICE, "prod is down, paging").notice == "you are not in a break-glass group"
    )


def test_abort_stops_a_queued_run_at_once_and_is_for_the_requester_or_approvers(decisions: RunDecisions) -> None:
    run = awaiting_approval(decisions)
    assert decisions.approve(run, "h1", BOB).execute
    assert decisions.abort(run, "h1", DAVE).notice == "only the requester or an approver can abort this run"
    assert decisions.abort(run, "h1", ALICE2).notice == "aborted before it started"  # the requester's 2nd account
    assert state(decisions, run) == RunState.ABORTED
