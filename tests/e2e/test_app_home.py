"""e2e: the App Home tab, through signed Slack requests (``app_home_opened`` events, Home button clicks).

An approver sees the run waiting for them and approves it from Home: the click takes the run
message's own path (the run executes, its message is updated, the approval is recorded and audited)
and the Home is republished when the run finishes. People who may not approve see no Approve button;
alerts show only to people who may act on them, and Ack/Silence ask the cluster (SubjectAccessReview).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from kubernetes import client
from slack_sdk import WebClient
from slack_sdk.models.blocks import Block

from bot.health.alerting import HealthService
from bot.slack.alerts import runbook_exists
from bot.slack.writer import SlackWriter
from tests.harness.bot_server import BOT_TOKEN, BotServer
from tests.harness.health_setup import MovableClock, alert_posts
from tests.harness.slack_flow import (
    PROD,
    STAGING,
    all_text,
    click,
    click_home,
    command,
    home_buttons,
    latest_update,
    open_home,
    submit_reason,
)
from tests.harness.slack_server import FakeSlack

pytestmark = pytest.mark.e2e


def node_cordoned(api: client.ApiClient, name: str) -> bool:
    return bool(client.CoreV1Api(api).read_node(name).spec.unschedulable)


def buttons_for(view: dict[str, Any], prefix: str) -> set[str]:
    """The action ids of the view's buttons bound to a run or alert (their value starts with ``prefix``)."""
    return {b["action_id"] for b in home_buttons(view) if b["value"].startswith(prefix)}


def text_has(*needles: str) -> Callable[[dict[str, Any]], bool]:
    return lambda view: all(n in all_text(view["blocks"]) for n in needles)


def valid(view: dict[str, Any]) -> dict[str, Any]:
    """The view's blocks parse as Block Kit and stay within a Home's 100 blocks."""
    assert view["type"] == "home"
    assert 0 < len(view["blocks"]) <= 100
    Block.parse_all(view["blocks"])
    return view


def awaiting_approval(server: BotServer, slack: FakeSlack, command_text: str) -> tuple[str, str]:
    """alice asks for ``command_text`` on prod and confirms it; the run id and its message's ts."""
    command(server, slack, command_text, "U0ALICE")
    (plan,) = slack.wait_match(
        "chat.postMessage", lambda c: c.args["channel"] == PROD and "Plan:" in all_text(c.args.get("blocks") or [])
    )
    plan.args["ts"] = slack.posted_ts(plan)
    click(server, plan, "rb_confirm", "U0ALICE")
    waiting = latest_update(slack, "Awaiting approval")
    (approve,) = [b for b in home_buttons(waiting.args) if b["action_id"] == "rb_approve"]
    return approve["value"].partition(":")[0], plan.args["ts"]


def test_an_approver_approves_from_home_and_the_view_follows_the_run(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient
) -> None:
    open_home(flow_server, "U0BOB")
    open_home(flow_server, "U0ALICE")
    valid(fake_slack.wait_home("U0BOB", text_has("Nothing waits for your approval.")))
    fake_slack.wait_home("U0ALICE", text_has("You have no run waiting or in progress."))

    run_id, message_ts = awaiting_approval(flow_server, fake_slack, "cordon node-1")
    # bob opened Home before and is an approver: his Home is republished with the run and its buttons
    view = valid(fake_slack.wait_home("U0BOB", lambda v: "rb_approve" in buttons_for(v, run_id)))
    assert buttons_for(view, run_id) == {"rb_approve", "rb_deny"}
    text = all_text(view["blocks"])
    assert "`cordon node-1`* on *prod*" in text
    assert "0 of 1 approval(s)" in text
    assert "cordon node node-1" in text
    mine = valid(fake_slack.wait_home("U0ALICE", lambda v: "rb_cancel" in buttons_for(v, run_id)))
    assert "rb_approve" not in buttons_for(mine, run_id), "the requester never gets an Approve button"
    assert not node_cordoned(e2e_admin, "node-1")

    click_home(flow_server, view, "rb_approve", "U0BOB", run_id)
    done = latest_update(fake_slack, "Done:")
    assert done.args["ts"] == message_ts, "the run message is updated in place, as for a click on it"
    assert "1 of 1: Bob Builder" in all_text(done.args["blocks"]), "approvers are named by their Slack display name"
    assert node_cordoned(e2e_admin, "node-1")
    (decision,) = flow_server.bot.store.approvals(run_id)
    assert (decision.approver_chat_id, decision.kube_user, decision.decision) == ("U0BOB", "bob", "approve")
    kinds = [e.kind for e in flow_server.bot.store.audit_events(run_id=run_id, limit=50)]
    assert "approved" in kinds
    assert "succeeded" in kinds

    # the run finished: both Homes are republished without its buttons, the outcome under "Recently finished"
    finished = text_has("Recently finished", "*Done* `cordon node-1` on prod")
    after = valid(fake_slack.wait_home("U0BOB", lambda v: finished(v) and not buttons_for(v, run_id)))
    assert "Waiting for your approval (0)" in all_text(after["blocks"])
    fake_slack.wait_home("U0ALICE", lambda v: finished(v) and not buttons_for(v, run_id))


def test_people_who_may_not_approve_see_no_approve_button(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient
) -> None:
    run_id, _ = awaiting_approval(flow_server, fake_slack, "cordon node-1")
    for user in ("U0CAROL", "U0MALLORY", "U0DAVE", "U0BOB"):
        open_home(flow_server, user)
    bob = valid(fake_slack.wait_home("U0BOB", lambda v: bool(buttons_for(v, run_id))))
    assert "rb_approve" in buttons_for(bob, run_id)

    # carol is in the approver set (group leads) but her RBAC may not patch nodes: shown, with why, no button
    carol = valid(fake_slack.wait_home("U0CAROL", text_has("cordon node-1")))
    assert buttons_for(carol, run_id) == set()
    assert "carol may not patch nodes `node-1`" in all_text(carol["blocks"])
    # mallory and dave are not approvers of this run: nothing of it shows
    for user in ("U0MALLORY", "U0DAVE"):
        view = valid(fake_slack.wait_home(user, text_has("Waiting for your approval (0)")))
        assert run_id not in json.dumps(view)
        assert "cordon node-1" not in all_text(view["blocks"])

    # a forged Home click by carol goes through the same decision path and is refused, on her Home
    click_home(flow_server, bob, "rb_approve", "U0CAROL", run_id)
    fake_slack.wait_home("U0CAROL", text_has("you may not approve what you could not do yourself"))
    record = flow_server.bot.store.get_run(run_id)
    assert record is not None
    assert record.state == "awaiting_approval"
    assert flow_server.bot.store.approvals(run_id) == []
    assert not node_cordoned(e2e_admin, "node-1")
    assert not [c for c in fake_slack.of("chat.postEphemeral") if c.args["user"] == "U0CAROL"]


def test_deny_from_home_asks_for_a_reason_like_the_message_does(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient
) -> None:
    run_id, message_ts = awaiting_approval(flow_server, fake_slack, "cordon node-1")
    open_home(flow_server, "U0ERIN")
    view = fake_slack.wait_home("U0ERIN", lambda v: "rb_deny" in buttons_for(v, run_id))
    click_home(flow_server, view, "rb_deny", "U0ERIN", run_id)
    (opened,) = fake_slack.wait_for("views.open")
    assert opened.args["view"]["callback_id"] == "rb_reason"
    submit_reason(flow_server, opened.args["view"], "U0ERIN", "change freeze until Monday")
    denied = latest_update(fake_slack, "Denied:")
    assert denied.args["ts"] == message_ts
    assert "change freeze until Monday" in all_text(denied.args["blocks"])
    fake_slack.wait_home("U0ERIN", lambda v: text_has("*Denied* `cordon node-1`")(v) and not buttons_for(v, run_id))
    assert not node_cordoned(e2e_admin, "node-1")


def test_abort_a_running_drain_from_home(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient, pinned: None
) -> None:
    open_home(flow_server, "U0ALICE")
    command(flow_server, fake_slack, "drain node-3 --timeout 5m", "U0ALICE", channel=STAGING)
    (plan,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == STAGING)
    plan.args["ts"] = fake_slack.posted_ts(plan)
    click(flow_server, plan, "rb_confirm", "U0ALICE")
    latest_update(fake_slack, "waiting on PDB pinned-pdb for 2 pods", channel=STAGING)
    (run,) = [r for r in flow_server.bot.store.recent_runs(limit=5) if r.command.startswith("drain node-3")]
    running = text_has("*Running*: `drain node-3 --timeout 5m` on *staging*")
    view = valid(fake_slack.wait_home("U0ALICE", lambda v: running(v) and "rb_abort" in buttons_for(v, run.id)))

    click_home(flow_server, view, "rb_abort", "U0ALICE", run.id)
    final = latest_update(fake_slack, "Aborted:", channel=STAGING)
    assert final.args["ts"] == plan.args["ts"]
    assert "Node node-3 stays cordoned" in all_text(final.args["blocks"])
    fake_slack.wait_home("U0ALICE", lambda v: text_has("*Aborted* `drain node-3")(v) and not buttons_for(v, run.id))


@pytest.fixture
def firing(flow_server: BotServer, fake_slack: FakeSlack) -> Iterator[str]:
    """node-2 (NotReady for 20 minutes on the health clock) fires on prod; the alert's id."""
    bot = flow_server.bot
    poster = SlackWriter(WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url))
    health = HealthService(
        bot.settings,
        bot.kube,
        bot.store,
        poster,
        runbook_exists=runbook_exists(bot),
        clock=MovableClock(timedelta(minutes=20)),
    )
    try:
        health.sweep(["prod"])
        alert_posts(fake_slack, "node/node-2")
        (alert,) = [a for a in bot.store.open_alerts(cluster="prod", states=("firing",)) if "node-2" in a.subject]
        yield alert.id
    finally:
        health.stop()


def test_home_shows_alerts_to_those_who_may_act_on_them_and_acks_from_there(
    flow_server: BotServer, fake_slack: FakeSlack, firing: str
) -> None:
    open_home(flow_server, "U0DAVE")  # sre: holds update alerts.runbook-bot.io
    open_home(flow_server, "U0MALLORY")  # interns: does not
    dave = valid(fake_slack.wait_home("U0DAVE", lambda v: "rb_alert_ack" in buttons_for(v, firing)))
    assert "Node NotReady: node/node-2 on prod" in all_text(dave["blocks"])
    assert {"rb_alert_silence_1h", "rb_alert_silence_4h", "rb_alert_silence_24h"} <= buttons_for(dave, firing)
    mallory = valid(fake_slack.wait_home("U0MALLORY", text_has("Firing alerts (0)")))
    assert firing not in json.dumps(mallory)

    click_home(flow_server, dave, "rb_alert_ack", "U0DAVE", firing)
    fake_slack.wait_home(
        "U0DAVE", lambda v: text_has("acknowledged")(v) and "rb_alert_ack" not in buttons_for(v, firing)
    )
    latest_update(fake_slack, "acked by Dave Ops (dave)")
    alert = flow_server.bot.store.get_alert(firing)
    assert alert is not None
    assert alert.acked_by == "Dave Ops (dave)"
    events = flow_server.bot.store.audit_events(limit=50)
    assert any(e.kind == "alert_acked" and e.actor == "U0DAVE" and e.detail["alert"] == firing for e in events)


def test_alert_buttons_ask_the_cluster_and_audit_a_refusal(
    flow_server: BotServer, fake_slack: FakeSlack, firing: str
) -> None:
    (posted,) = alert_posts(fake_slack, "node/node-2")
    posted.args["ts"] = fake_slack.posted_ts(posted)
    click(flow_server, posted, "rb_alert_silence_4h", "U0MALLORY")
    (refused,) = fake_slack.wait_match("chat.postEphemeral", lambda c: c.args["user"] == "U0MALLORY")
    assert "mallory may not update alerts.runbook-bot.io (cluster-wide) on cluster prod" in refused.args["text"]
    alert = flow_server.bot.store.get_alert(firing)
    assert alert is not None
    assert alert.silenced_until is None
    assert alert.acked_by is None
    (event,) = [e for e in flow_server.bot.store.audit_events(limit=50) if e.kind == "alert_refused"]
    assert event.actor == "U0MALLORY"
    assert "may not silence Node NotReady: node/node-2 on prod" in event.summary
