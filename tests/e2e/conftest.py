"""e2e fixtures: a control plane of its own (so cluster-wide counts are exact), a local Slack
server, and the real bot serving signed HTTP requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from pydantic import SecretStr

from tests.harness.binaries import ensure_binaries
from tests.harness.bot_server import BOT_TOKEN, SIGNING_SECRET, BotServer, bot_settings, start_bot_server
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.kwok_nodes import create_namespace, create_node, wait_for, wait_node_ready
from tests.harness.rbac import READ_RULES, bind_cluster_role, ensure_cluster_role
from tests.harness.slack_flow import AUDIT
from tests.harness.slack_server import FakeSlack
from tests.harness.trust_setup import grant, settings, slack_users
from tests.harness.workloads import pdb

PINNED_NS = "pinned"


@pytest.fixture(scope="package")
def e2e_control_plane() -> Iterator[ControlPlane]:
    """A fresh control plane for the e2e package only (fails, never skips)."""
    try:
        cp = ControlPlane(ensure_binaries())
        cp.start()
    except Exception as exc:  # noqa: BLE001 - any start failure fails the run (never a skip)
        pytest.fail(f"e2e control plane failed to start: {type(exc).__name__}: {exc}", pytrace=False)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="package")
def e2e_admin(e2e_control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """Admin API client for the e2e cluster."""
    api = config.new_client_from_config(config_file=str(e2e_control_plane.admin_kubeconfig), context=CONTEXT)
    yield api
    api.close()


@pytest.fixture(scope="package")
def three_nodes(e2e_admin: client.ApiClient) -> Iterator[list[str]]:
    """node-1 Ready, node-2 NotReady, node-3 Ready but cordoned; alice's group `sre` may read.

    The only nodes of the e2e cluster: tests count them ("3 nodes: 2 Ready, ..."), so none adds more.
    """
    core = client.CoreV1Api(e2e_admin)
    create_node(core, "node-1")
    create_node(core, "node-2", ready=False)
    create_node(core, "node-3", cordoned=True)
    wait_node_ready(core, "node-1")
    wait_node_ready(core, "node-3")
    ensure_cluster_role(e2e_admin, "runbook-read", READ_RULES)
    bind_cluster_role(e2e_admin, "runbook-read", group="sre")
    return ["node-1", "node-2", "node-3"]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A local Slack-compatible Web API server that records calls."""
    slack = FakeSlack().start()
    slack.users.update(slack_users())  # users.info knows the cast: messages show their names
    yield slack
    slack.stop()


@pytest.fixture
def bot_server(e2e_control_plane: ControlPlane, fake_slack: FakeSlack, tmp_path: Path) -> Iterator[BotServer]:
    """The bot (HTTP mode) for cluster ``test``, posting to ``fake_slack``, with a fresh SQLite store."""
    store = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    server = start_bot_server(bot_settings(e2e_control_plane.admin_kubeconfig, fake_slack, store))
    yield server
    server.stop()


@pytest.fixture
def flow_server(
    e2e_control_plane: ControlPlane,
    e2e_admin: client.ApiClient,
    fake_slack: FakeSlack,
    three_nodes: list[str],
    tmp_path: Path,
) -> Iterator[BotServer]:
    grant(e2e_admin)
    s = settings(e2e_control_plane.admin_kubeconfig, f"sqlite:///{tmp_path / 'bot.sqlite3'}", AUDIT)
    s.slack = s.slack.model_copy(
        update={
            "bot_token": SecretStr(BOT_TOKEN),
            "signing_secret": SecretStr(SIGNING_SECRET),
            "api_base_url": fake_slack.api_url,
            "mode": "http",
        }
    )
    server = start_bot_server(s)
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:  # the package's other tests count node-1 as schedulable
            client.CoreV1Api(e2e_admin).patch_node("node-1", {"spec": {"unschedulable": False}})


@pytest.fixture
def pinned(e2e_admin: client.ApiClient) -> Iterator[None]:
    """Two pods that can only run on node-3 (already cordoned), under a PDB that never allows a disruption."""
    core, apps = client.CoreV1Api(e2e_admin), client.AppsV1Api(e2e_admin)
    create_namespace(core, PINNED_NS)
    labels = {"app": "pinned"}
    apps.create_namespaced_deployment(
        PINNED_NS,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "pinned"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [{"name": "app", "image": "registry.local/app:1"}],
                        "terminationGracePeriodSeconds": 1,
                        "nodeSelector": {"kubernetes.io/hostname": "node-3"},
                        "tolerations": [
                            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
                        ],
                    },
                },
            },
        },
    )
    pdb(e2e_admin, PINNED_NS, "pinned-pdb", "pinned", min_available=2)
    wait_for(
        "pinned pods running",
        lambda: (
            True
            if sum(1 for p in core.list_namespaced_pod(PINNED_NS).items if p.status.phase == "Running") == 2
            else None
        ),
        60,
    )
    yield
    core.delete_namespace(PINNED_NS)
    wait_for(
        "namespace gone",
        lambda: None if any(n.metadata.name == PINNED_NS for n in core.list_namespace().items) else True,
        60,
    )
