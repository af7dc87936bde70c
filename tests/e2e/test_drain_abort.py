"""e2e: a drain blocked by a PodDisruptionBudget shows live progress in its one message; Abort stops it."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.e2e.conftest import PINNED_NS as NS
from tests.harness.bot_server import BotServer
from tests.harness.slack_flow import STAGING, all_text, click, command, latest_update
from tests.harness.slack_server import FakeSlack

pytestmark = pytest.mark.e2e


def test_drain_progress_and_abort_in_one_message(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient, pinned: None
) -> None:
    command(flow_server, fake_slack, "drain node-3 --timeout 5m", "U0ALICE", channel=STAGING)
    (plan,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == STAGING)
    plan_text = all_text(plan.args["blocks"])
    assert "evict 2 pod(s) from node node-3" in plan_text
    assert f"PDB {NS}/pinned-pdb allows 0 disruptions now" in plan_text
    plan.args["ts"] = fake_slack.posted_ts(plan)
    click(flow_server, plan, "rb_confirm", "U0ALICE")
    progress = latest_update(fake_slack, "waiting on PDB pinned-pdb for 2 pods", channel=STAGING)
    assert progress.args["ts"] == plan.args["ts"]
    assert "evicted 0/2 pods" in all_text(progress.args["blocks"])
    click(flow_server, progress, "rb_abort", "U0ALICE")
    final = latest_update(fake_slack, "Aborted:", channel=STAGING)
    text = all_text(final.args["blocks"])
    assert "evicted 0/2 pods; no further evictions were made" in text
    assert "Node node-3 stays cordoned" in text
    assert [b for b in final.args["blocks"] if b["type"] == "actions"] == []
    (detail,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args.get("thread_ts") == plan.args["ts"])
    assert detail.args["text"].startswith("aborted:")
    pods = client.CoreV1Api(e2e_admin).list_namespaced_pod(NS).items
    assert sum(1 for p in pods if p.metadata.deletion_timestamp is None) == 2
