"""Secret hygiene: known fake secrets planted in the configuration and the environment — Slack tokens and
signing secret, AWS keys, an Azure client secret, the kubeconfig's client key, the database password —
never appear in a log line, a Slack message or an audit row, through a session of commands that
includes refusals, denials and cloud failures."""

from __future__ import annotations

import base64
import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from bot.config import load_settings
from bot.config.logs import ContextFilter, JsonFormatter
from tests.harness.bot_server import BotServer, start_bot_server
from tests.harness.control_plane import ControlPlane
from tests.harness.kwok_nodes import create_node, wait_for
from tests.harness.postgres import PostgresServer
from tests.harness.slack_flow import PROD, STAGING, click
from tests.harness.slack_server import FakeSlack
from tests.harness.slack_signing import signed_headers, slash_command_body
from tests.harness.trust_setup import grant, settings_doc

pytestmark = pytest.mark.e2e

BOT_TOKEN = "xoxb-111111111111-222222222222-PLANTEDslackBOTtoken"
SIGNING = "planted-signing-secret-5f0c2e9d71"
APP_TOKEN = "xapp-1-A0PLANTED-3333-PLANTEDappLEVELtoken"
AWS_KEY_ID = "AKIAPLANTED000000000"
AWS_SECRET = "PLANTEDawsSECRETkey/+0123456789abcdefghij"
AZURE_SECRET = "PLANTED~azure.client-secret_0123456789"
DB_PASSWORD = "PLANTED-db-passw0rd"
CLOSED = "127.0.0.1:9"  # discard port: nothing listens, every cloud call fails


@pytest.fixture
def planted(
    e2e_control_plane: ControlPlane,
    e2e_admin: client.ApiClient,
    fake_slack: FakeSlack,
    postgres_server: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[BotServer, list[str], io.StringIO]]:
    grant(e2e_admin)
    core = client.CoreV1Api(e2e_admin)
    suffix = uuid.uuid4().hex[:6]
    made: list[str] = []
    for name, pid in (
        (f"hyg-aws-{suffix}", "aws:///us-east-1a/i-0123456789abcdef0"),
        (
            f"hyg-az-{suffix}",
            "azure:///subscriptions/00000000-0000-4000-8000-00000000beef/resourceGroups/rg/providers/"
            "Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/0",
        ),
    ):
        create_node(core, name, provider_id=pid)
        made.append(name)
    url = postgres_server.database_url(postgres_server_db(postgres_server)).replace("@", f":{DB_PASSWORD}@", 1)
    doc = settings_doc(e2e_control_plane.admin_kubeconfig, url, "C0AUDIT")
    kube = {k: doc["clusters"]["staging"][k] for k in ("kubeconfig", "context")}
    secret_file = tmp_path / "azure-secret"
    secret_file.write_text(AZURE_SECRET)
    doc["clusters"]["awsc"] = {
        **kube,
        "cloud": {"provider": "aws", "region": "us-east-1", "endpoint_url": f"http://{CLOSED}"},
    }
    doc["clusters"]["azc"] = {
        **kube,
        "cloud": {
            "provider": "azure",
            "subscription_id": "00000000-0000-4000-8000-00000000beef",
            "resource_groups": ["rg"],
            "resource_manager": f"https://{CLOSED}",
            "authority": f"https://{CLOSED}",
            "credential": "client_secret",
            "tenant_id": "00000000-0000-4000-8000-0000000000aa",
            "client_id": "00000000-0000-4000-8000-0000000000bb",
            "client_secret_file": str(secret_file),
        },
    }
    doc["slack"].update({"mode": "http", "api_base_url": fake_slack.api_url})
    doc["log_format"] = "json"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(doc))
    for name, value in {
        "RUNBOOK_BOT_SLACK__BOT_TOKEN": BOT_TOKEN,
        "RUNBOOK_BOT_SLACK__SIGNING_SECRET": SIGNING,
        "RUNBOOK_BOT_SLACK__APP_TOKEN": APP_TOKEN,
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    kubeconfig = yaml.safe_load(Path(kube["kubeconfig"]).read_text())
    key_data = kubeconfig["users"][0]["user"]["client-key-data"]
    key_pem_line = base64.b64decode(key_data).decode().splitlines()[1]
    secrets = [BOT_TOKEN, SIGNING, APP_TOKEN, AWS_KEY_ID, AWS_SECRET, AZURE_SECRET, DB_PASSWORD, key_data, key_pem_line]

    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    server = start_bot_server(load_settings(config))
    try:
        yield server, secrets, written
    finally:
        server.stop()
        root.removeHandler(handler)
        root.setLevel(level)
        for name in made:  # the package's other tests count the nodes
            core.delete_node(name)


def postgres_server_db(server: PostgresServer) -> str:
    name = f"hygiene_{uuid.uuid4().hex[:12]}"
    server.new_database(name)
    return name


def send(server: BotServer, slack: FakeSlack, text: str, user: str, channel: str) -> None:
    body = slash_command_body(text, user_id=user, channel_id=channel, response_url=slack.response_url())
    assert server.post("/slack/events", body, signed_headers(SIGNING, body))[0] == 200


def test_no_planted_secret_reaches_logs_slack_messages_or_audit(
    planted: tuple[BotServer, list[str], io.StringIO], fake_slack: FakeSlack
) -> None:
    server, secrets, written = planted
    nodes = [
        n.metadata.name for n in client.CoreV1Api(server.bot.kube.access("staging", None).api_client).list_node().items
    ]
    aws_node = next(n for n in nodes if n.startswith("hyg-aws-"))
    az_node = next(n for n in nodes if n.startswith("hyg-az-"))
    session = [
        ("help", "U0ALICE", STAGING),
        ("whoami", "U0ALICE", STAGING),
        ("status", "U0MALLORY", STAGING),
        ("pods no-such-node", "U0ALICE", STAGING),
        ("frobnicate --token xoxb-not-a-real-one", "U0ALICE", STAGING),
        (f"replace-node {aws_node} --cluster awsc", "U0ALICE", STAGING),
        (f"replace-node {az_node} --cluster azc", "U0ALICE", STAGING),
        (f"cordon {aws_node} --cluster prod", "U0ALICE", PROD),
        (f"cordon {aws_node}", "U0MALLORY", STAGING),
        ("audit 50", "U0DAVE", STAGING),
        ("runs", "U0DAVE", STAGING),
    ]
    for text, user, channel in session:
        send(server, fake_slack, text, user, channel)
    fake_slack.wait_match("chat.postMessage", lambda c: "Plan" in str(c.args.get("text", "")))
    (plan,) = [c for c in fake_slack.of("chat.postMessage") if str(c.args.get("text", "")).startswith("Plan")]
    plan.args["ts"] = fake_slack.posted_ts(plan)
    click(server, plan, "rb_confirm", "U0ALICE", secret=SIGNING)  # cordon on prod: now awaiting approval
    fake_slack.wait_match("chat.update", lambda c: "Awaiting approval" in str(c.args.get("text", "")))

    def answered() -> bool | None:  # every command answered once: in its channel, or to its response_url
        direct = [c for c in fake_slack.of("chat.postMessage") if c.args["channel"] in (STAGING, PROD)]
        replies = [c for c in direct if not c.args.get("thread_ts")]
        return True if len(replies) + len(fake_slack.of("response_url")) >= len(session) else None

    wait_for("every command to be answered", answered, 60)
    server.bot.runs.shutdown(1)

    logs = written.getvalue()
    messages = json.dumps([c.args for c in fake_slack.calls])
    audit = json.dumps([(e.summary, e.detail) for e in server.bot.store.audit_events(limit=1000)], default=str)
    runs = json.dumps([(r.outcome, r.plan) for r in server.bot.store.recent_runs(limit=100)], default=str)
    assert "replace-node" in audit, "the failing commands did run"
    assert "cannot" in (logs + messages + audit), "the failing commands did run"
    for secret in secrets:
        for where, text in (("log", logs), ("Slack message", messages), ("audit row", audit), ("run record", runs)):
            assert secret not in text, f"a planted secret ({secret[:8]}…) leaked into a {where}"
