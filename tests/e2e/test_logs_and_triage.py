"""e2e: `/k8s logs` with 5,000 lines arrives as an uploaded file (files.uploadV2's three calls), secrets
redacted; `/k8s triage` shows runbook buttons, and a click plans that runbook as the clicker."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from slack_sdk.models.blocks import Block

from tests.harness import workload_setup as ws
from tests.harness.bot_server import BotServer
from tests.harness.kwok_nodes import create_namespace, wait_for
from tests.harness.slack_flow import STAGING, all_text, click, command
from tests.harness.slack_server import FakeSlack

pytestmark = pytest.mark.e2e
NS = "chatter"


@pytest.fixture
def chatty_pod(e2e_admin: client.ApiClient) -> Iterator[str]:
    """A bare pod bound to node-3 (so node-1's pod count stays what other tests expect); removed after."""
    core = client.CoreV1Api(e2e_admin)
    ws.grant_workloads(e2e_admin)
    create_namespace(core, NS)
    core.create_namespaced_pod(
        NS,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "chatty", "labels": {"app": "chatty"}},
            "spec": {
                "nodeName": "node-3",
                "containers": [{"name": "app", "image": "registry.local/app:1"}],
                "terminationGracePeriodSeconds": 1,
            },
        },
    )
    wait_for(
        "chatty running", lambda: True if core.read_namespaced_pod("chatty", NS).status.phase == "Running" else None, 60
    )
    yield "chatty"
    core.delete_namespace(NS)
    wait_for(
        "namespace gone", lambda: None if NS in {n.metadata.name for n in core.list_namespace().items} else True, 60
    )


def test_five_thousand_log_lines_arrive_as_an_uploaded_file_with_secrets_redacted(
    flow_server: BotServer, fake_slack: FakeSlack, e2e_admin: client.ApiClient, chatty_pod: str, tmp_path: Path
) -> None:
    secret = "AKIAIOSFODNN7EXAMPLE"
    lines = [f"request {i} ok" for i in range(5000)]
    lines[10] = f"boot: using aws key {secret} and password=hunter2"
    ws.serve_logs(e2e_admin, NS, chatty_pod, lines, tmp_path)
    ws.wait_logs(e2e_admin, NS, chatty_pod, "request 4999 ok")

    command(flow_server, fake_slack, f"logs {chatty_pod} -n {NS} --tail 5000", "U0ALICE", channel=STAGING)
    (post,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == STAGING)
    Block.parse_all(post.args["blocks"])
    text = all_text(post.args["blocks"])
    assert f"Logs of {chatty_pod} ({NS})" in text
    assert "5000 lines" in text
    assert "2 secrets redacted" in text
    assert "request 4999 ok" in text, "the last lines are shown in the message"
    assert secret not in text

    (asked,) = fake_slack.wait_for("files.getUploadURLExternal")
    (done,) = fake_slack.wait_for("files.completeUploadExternal")
    upload = fake_slack.uploads[done.args["files"][0]["id"]]
    assert upload.completed
    assert upload.filename == f"{NS}-{chatty_pod}-logs.txt" == asked.args["filename"]
    assert upload.channel == STAGING
    assert upload.thread_ts == fake_slack.posted_ts(post), "in the message's thread"
    content = (upload.content or b"").decode().splitlines()
    assert len(content) == 5000
    assert content[0] == "request 0 ok"
    assert content[-1] == "request 4999 ok"
    assert content[10] == "boot: using aws key [redacted] and password=[redacted]"
    assert secret.encode() not in (upload.content or b"")
    assert b"hunter2" not in (upload.content or b"")


def test_triage_buttons_plan_the_runbook_as_the_clicker(
    flow_server: BotServer, fake_slack: FakeSlack, three_nodes: list[str]
) -> None:
    command(flow_server, fake_slack, "triage node-2", "U0ALICE", channel=STAGING)
    (report,) = fake_slack.wait_match("chat.postMessage", lambda c: c.args["channel"] == STAGING)
    Block.parse_all(report.args["blocks"])
    # NotReady as the fixture set it, or Unknown once the node controller saw no kubelet heartbeat for 40 s
    assert re.search(r"Triage of node node-2: (NotReady|Unknown)\n", all_text(report.args["blocks"]))
    buttons = {e["text"]["text"]: e for b in report.args["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert {"Cordon", "Drain", "Replace node"} <= set(buttons)
    assert buttons["Cordon"]["value"] == "cordon node-2 --cluster staging"

    click(flow_server, report, buttons["Cordon"]["action_id"], "U0BOB")
    (plan,) = fake_slack.wait_match(
        "chat.postMessage",
        lambda c: c.args["channel"] == STAGING and "Plan: cordon on staging" in all_text(c.args.get("blocks") or []),
    )
    text = all_text(plan.args["blocks"])
    assert "requested by Bob Builder as bob (groups: sre, leads)" in text
    assert "cordon node node-2" in text
    assert "the API server accepts this change" in text
    assert [e["action_id"] for b in plan.args["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "rb_confirm",
        "rb_cancel",
    ]
