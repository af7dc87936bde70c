"""e2e: a guarded canary progression in its one Slack message — stages as progress, Pause holds the
weights past the next stage's due time, Resume carries on, Abort sends everything back to stable;
every click a signed Slack request, every weight checked in the real HTTPRoute."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from kubernetes import client

from tests.harness import progression_setup as ps
from tests.harness.bot_server import BotServer
from tests.harness.health_setup import MovableClock
from tests.harness.kwok_nodes import create_namespace, wait_for
from tests.harness.slack_flow import STAGING, all_text, click, command, latest_update
from tests.harness.slack_server import FakeSlack

pytestmark = pytest.mark.e2e
NS = "canary-e2e"


@pytest.fixture
def web(e2e_admin: client.ApiClient, three_nodes: list[str]) -> Iterator[None]:
    """Route web at 100/0 and two Ready canary pods on node-1 (removed with the namespace afterwards)."""
    ps.grant_progression(e2e_admin)
    core = client.CoreV1Api(e2e_admin)
    create_namespace(core, NS)
    ps.canary_app(e2e_admin, NS, "web", {"kubernetes.io/hostname": "node-1"})
    yield
    core.delete_namespace(NS)
    wait_for(
        "namespace gone", lambda: None if any(n.metadata.name == NS for n in core.list_namespace().items) else True, 60
    )


def buttons(call: object) -> list[str]:
    blocks = call.args["blocks"]  # type: ignore[attr-defined]
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_progression_pause_resume_and_abort_through_slack_clicks(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient, web: None
) -> None:
    clock = MovableClock()
    flow_server.bot.runs.clock = clock
    command(flow_server, fake_slack, f"canary web 90/10 --step 10 --every 5m --until 50/50 -n {NS}", "U0ALICE", STAGING)
    (plan,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == STAGING)
    text = all_text(plan.args["blocks"])
    assert "stage 1/5: 90/10 — at the start" in text
    assert "stage 5/5: 50/50 — 20m after the start" in text
    assert "guard: pods selected by service web-canary (app=web,track=canary)" in text
    plan.args["ts"] = fake_slack.posted_ts(plan)
    click(flow_server, plan, "rb_confirm", "U0ALICE")

    first = latest_update(fake_slack, "stage 1/5: 90/10 · next 80/20 at", channel=STAGING)
    assert first.args["ts"] == plan.args["ts"], "one message per run, updated in place"
    assert buttons(first) == ["rb_pause", "rb_abort"]
    assert ps.route_split(e2e_admin, NS, "web") == "90/10"

    click(flow_server, first, "rb_pause", "U0ALICE")
    held = latest_update(fake_slack, "paused: 80/20 due at", channel=STAGING)
    assert "Paused by Alice Doe" in all_text(held.args["blocks"]), "named by their Slack display name"
    assert buttons(held) == ["rb_resume", "rb_abort"]
    clock.advance(timedelta(minutes=6))
    overdue = latest_update(fake_slack, "paused: 80/20 was due at", channel=STAGING)
    assert ps.route_split(e2e_admin, NS, "web") == "90/10", "Pause holds the weights past the due time"

    click(flow_server, overdue, "rb_resume", "U0ALICE")
    second = latest_update(fake_slack, "stage 2/5: 80/20 · next 70/30 at", channel=STAGING)
    assert ps.route_split(e2e_admin, NS, "web") == "80/20"
    assert buttons(second) == ["rb_pause", "rb_abort"]

    click(flow_server, second, "rb_abort", "U0ALICE")
    final = latest_update(fake_slack, "Aborted:", channel=STAGING)
    outcome = all_text(final.args["blocks"])
    assert "traffic sent 100% back to stable web (100/0) from stage 2/5 (80/20)" in outcome
    assert buttons(final) == []
    assert ps.route_split(e2e_admin, NS, "web") == "100/0"
