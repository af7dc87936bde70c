"""The App Home: who is offered which approval (the inbox), and the Block Kit view within a Home's limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block

from bot.engine.inbox import MAX_PENDING_CHECKED, Inbox, PendingApproval, RunInbox
from bot.model import Permission, Requester
from bot.slack.home import HomeRegistry
from bot.slack.home_view import MAX_VIEW_BLOCKS, HomeContent, home_blocks, home_view
from bot.store import AlertRecord, ApprovalRecord, RunRecord, RunState, Store

NOW = datetime(2030, 5, 6, 9, 30, tzinfo=UTC)
ALICE = Requester("U0ALICE", "alice", "alice", ("oncall", "sre"))
BOB = Requester("U0BOB", "bob", "bob", ("sre", "leads"))
BOB_OTHER_ACCOUNT = Requester("U0BOB2", "bob (phone)", "bob", ("sre", "leads"))
CAROL = Requester("U0CAROL", "carol", "carol", ("leads",))
MALLORY = Requester("U0MALLORY", "mallory", "mallory", ("interns",))
PATCH = Permission(verb="patch", resource="nodes", name="node-1")


class ClusterRbac:
    """The cluster's answer to SubjectAccessReview, as a table: the Kubernetes users who hold everything."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.asked: list[str] = []

    def missing_permissions(
        self, cluster: str, requester: Requester, permissions: Sequence[Permission]
    ) -> list[Permission]:
        self.asked.append(requester.kube_user or "")
        return [] if requester.kube_user in self.allowed else list(permissions)


def run(
    run_id: str, state: RunState = RunState.AWAITING_APPROVAL, *, by: Requester = ALICE, **fields: object
) -> RunRecord:
    values: dict[str, object] = {
        "id": run_id,
        "runbook": "cordon",
        "risk": "change",
        "cluster": "prod",
        "namespace": "default",
        "command": f"cordon node-{run_id}",
        "requester_chat_id": by.chat_id,
        "requester_name": by.display_name,
        "kube_user": by.kube_user,
        "kube_groups": list(by.kube_groups),
        "state": state.value,
        "plan": {"permissions_json": [PATCH.model_dump(mode="json")], "step_lines": [f"cordon node node-{run_id}"]},
        "plan_hash": f"hash-{run_id}",
        "channel": "C0PROD",
        "message_ts": "1.2",
        "approvals_required": 1,
        "policy": {"approvals": 1, "approvers": {"groups": ["leads"]}},
        "expires_at": NOW + timedelta(minutes=10),
        "created_at": NOW - timedelta(minutes=5),
        **fields,
    }
    return RunRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'home.sqlite3'}", clock=lambda: NOW)


def test_only_eligible_approvers_are_offered_the_run(store: Store) -> None:
    store.create_run(run("r1"))
    rbac = ClusterRbac({"alice", "bob"})
    inbox = RunInbox(store, rbac, lambda: NOW)

    bob = inbox.for_actor(BOB)
    assert [p.run.id for p in bob.pending] == ["r1"]
    assert bob.pending[0].refusal is None
    carol = inbox.for_actor(CAROL)  # in the approver set, but her RBAC may not patch the node
    assert carol.pending == []
    assert [p.run.id for p in carol.blocked] == ["r1"]
    assert "carol may not patch nodes `node-1`" in (carol.blocked[0].refusal or "")
    mallory = inbox.for_actor(MALLORY)  # not in the set: not asked of the cluster, nothing shown
    assert mallory.pending == mallory.blocked == []
    assert "mallory" not in rbac.asked
    alice = inbox.for_actor(ALICE)  # the requester: her own run, never an approval
    assert alice.pending == alice.blocked == []
    assert [r.id for r in alice.mine] == ["r1"]
    assert inbox.for_actor(BOB_OTHER_ACCOUNT).pending[0].run.id == "r1"


def test_the_same_person_on_another_account_is_still_the_requester(store: Store) -> None:
    store.create_run(run("r1", by=BOB))
    inbox = RunInbox(store, ClusterRbac({"bob"}), lambda: NOW)
    other = inbox.for_actor(BOB_OTHER_ACCOUNT)
    assert other.pending == []
    assert [r.id for r in other.mine] == ["r1"]


def test_an_approval_already_given_is_shown_without_buttons(store: Store) -> None:
    store.create_run(run("r1", approvals_required=2))
    store.add_approval(ApprovalRecord("r1", "U0BOB", "bob", "bob", "approve", "hash-r1", at=NOW))
    inbox = RunInbox(store, ClusterRbac({"bob", "erin"}), lambda: NOW)
    for account in (BOB, BOB_OTHER_ACCOUNT):
        seen = inbox.for_actor(account)
        assert seen.pending == []
        assert seen.blocked[0].approved == 1
        assert "waiting for 1 more approval(s)" in (seen.blocked[0].refusal or "")


def test_expired_requests_are_left_out_and_checks_are_bounded(store: Store) -> None:
    store.create_run(run("old", expires_at=NOW - timedelta(seconds=1)))
    for i in range(MAX_PENDING_CHECKED + 3):
        store.create_run(run(f"r{i:02d}", created_at=NOW - timedelta(minutes=60 - i)))
    rbac = ClusterRbac({"bob"})
    seen = RunInbox(store, rbac, lambda: NOW).for_actor(BOB)
    assert "old" not in seen.run_ids
    assert len(seen.pending) == MAX_PENDING_CHECKED
    assert seen.not_checked == 3
    assert len(rbac.asked) == MAX_PENDING_CHECKED


def test_recently_finished_lists_runs_asked_for_or_decided_on(store: Store) -> None:
    store.create_run(run("mine", RunState.SUCCEEDED, finished_at=NOW, outcome="done"))
    store.create_run(run("decided", RunState.SUCCEEDED, by=CAROL, finished_at=NOW))
    store.add_approval(ApprovalRecord("decided", "U0BOB", "bob", "bob", "approve", "hash-decided", at=NOW))
    store.create_run(run("other", RunState.FAILED, by=CAROL, finished_at=NOW))
    inbox = RunInbox(store, ClusterRbac(set()), lambda: NOW)
    assert [r.id for r in inbox.for_actor(ALICE).recent] == ["mine"]
    assert [r.id for r in inbox.for_actor(BOB).recent] == ["decided"]


def alert(i: int) -> AlertRecord:
    return AlertRecord(
        id=f"a{i}",
        key=f"prod/node_not_ready/node/n{i}",
        cluster="prod",
        check_name="node_not_ready",
        subject=f"node/n{i}",
        severity="critical" if i % 3 == 0 else "warning",
        state="firing",
        summary=f"node n{i} is NotReady",
        details={},
        since=NOW - timedelta(minutes=30),
        first_seen=NOW - timedelta(minutes=30),
        last_seen=NOW,
        acked_by="U0DAVE (dave)" if i == 0 else None,
    )


def action_ids(blocks: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_a_full_home_stays_within_a_views_limits_and_says_what_was_left_out() -> None:
    many = [run(f"p{i}") for i in range(40)]
    content = HomeContent(
        who="bob · acting as bob (groups: sre, leads)",
        now=NOW,
        inbox=Inbox(
            pending=[PendingApproval(r, 0) for r in many],
            mine=[run(f"m{i}", RunState.RUNNING, started_at=NOW) for i in range(30)],
            recent=[run(f"f{i}", RunState.SUCCEEDED, finished_at=NOW, outcome="x" * 500) for i in range(5)],
        ),
        alerts=[alert(i) for i in range(30)],
        notice="<!channel> approved",
    )
    view = home_view(content).to_dict()
    assert view["type"] == "home"
    assert len(view["blocks"]) <= MAX_VIEW_BLOCKS
    Block.parse_all(view["blocks"])
    text = str(view["blocks"])
    assert "… and 28 more awaiting your approval" in text
    assert "… and 20 more of your runs" in text
    assert "… and 20 more firing alerts" in text
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
    ids = action_ids(view["blocks"])
    assert ids.count("rb_approve") == ids.count("rb_deny") == 12
    assert ids.count("rb_abort") == 10
    assert ids.count("rb_alert_ack") == 9, "the acked alert offers no Ack"
    first_alert = next(b for b in view["blocks"] if b["type"] == "section" and "[critical]" in b["text"]["text"])
    assert "Node NotReady: node/n0 on prod" in first_alert["text"]["text"], "critical alerts first"


def test_buttons_are_the_run_messages_own() -> None:
    content = HomeContent(
        who="bob",
        now=NOW,
        inbox=Inbox(pending=[PendingApproval(run("r1"), 0)], mine=[run("r2", RunState.AWAITING_CONFIRMATION)]),
    )
    blocks = [b.to_dict() for b in home_blocks(content)]
    buttons = {e["action_id"]: e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]}
    assert buttons == {"rb_approve": "r1:hash-r1", "rb_deny": "r1:hash-r1", "rb_cancel": "r2:hash-r2"}


def test_an_unmapped_user_sees_why_and_nothing_else() -> None:
    content = HomeContent(who="U0X", now=NOW, unmapped="your Slack user (U0X) is not mapped to a Kubernetes identity")
    blocks = [b.to_dict() for b in home_blocks(content)]
    assert action_ids(blocks) == []
    assert "is not mapped" in str(blocks)
    assert "Waiting for" not in str(blocks)


def test_the_registry_forgets_the_least_recently_opened_home() -> None:
    registry = HomeRegistry(limit=2)
    registry.opened("U1")
    registry.opened("U2")
    registry.showed("U1", frozenset({"r1"}))
    registry.opened("U1")  # opened again: most recent
    registry.opened("U3")
    assert registry.users() == ["U1", "U3"]
    assert registry.shows("U1", "r1")
    assert not registry.shows("U2", "r1")
    registry.set_notice("U2", "not remembered")
    assert registry.notice("U2") is None
