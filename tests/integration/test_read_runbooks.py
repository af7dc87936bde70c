"""Read-only runbooks through the engine, as an impersonated user, against the real API server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bot.config.settings import ClusterSettings, IdentitySettings, KubeIdentity, Settings
from bot.engine.bootstrap import Bot, build_bot
from bot.engine.identity import IdentityMapper
from bot.engine.runbook_loading import load_catalog
from bot.engine.runbooks import builtin_runbook_dir
from bot.model import Requester
from bot.report import Table
from bot.steps.registry import default_registry
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.kwok_nodes import create_deployment, create_node, unique_name, wait_node_ready, wait_pods_running
from tests.harness.rbac import READ_RULES, bind_cluster_role, ensure_cluster_role

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bot(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    ensure_cluster_role(kube_api_client, "runbook-read", READ_RULES)
    bind_cluster_role(kube_api_client, "runbook-read", group="readers")
    settings = Settings(
        clusters={"test": ClusterSettings(kubeconfig=control_plane.admin_kubeconfig, context=CONTEXT)},
        store={"url": f"sqlite:///{tmp_path_factory.mktemp('store') / 'bot.sqlite3'}"},
        identity=IdentitySettings(
            users={
                "U0ALICE": KubeIdentity(user="alice", groups=["oncall", "readers"]),
                "U0NOBODY": KubeIdentity(user="nobody", groups=["visitors-without-rbac"]),
            }
        ),
    )
    b = build_bot(settings)
    yield b
    b.close()


def requester(bot: Bot, user: str) -> Requester:
    return IdentityMapper(bot.settings.identity).requester(user)


def rows(report_parts: list[object]) -> list[list[str]]:
    return [row for p in report_parts if isinstance(p, Table) for row in p.rows]


def test_pods_lists_exactly_the_pods_on_the_node(bot: Bot, kube_api_client: client.ApiClient, namespace: str) -> None:
    core, apps = client.CoreV1Api(kube_api_client), client.AppsV1Api(kube_api_client)
    here, there = unique_name("node"), unique_name("node")
    create_node(core, here)
    create_node(core, there)
    wait_node_ready(core, here)
    create_deployment(apps, namespace, "web", 4, node_name=here)
    create_deployment(apps, namespace, "db", 2, node_name=there)
    expected = {f"{namespace}/{p.metadata.name}" for p in wait_pods_running(core, namespace, "app=web", 4)}
    outcome = bot.runs.request(f"pods {here}", requester(bot, "U0ALICE"))
    assert outcome.ok, outcome.report
    assert {r[0] for r in rows(outcome.report.parts)} == expected


def test_unknown_node_suggests_the_closest(bot: Bot, kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("worker")
    create_node(core, name)
    typo = name[:-1]
    outcome = bot.runs.request(f"pods {typo}", requester(bot, "U0ALICE"))
    assert not outcome.ok
    assert outcome.report.summary == f"unknown node `{typo}` on cluster test"
    assert f"`{name}`" in outcome.report.parts[0].lines[0]  # type: ignore[union-attr]


def test_status_counts_match_an_independent_listing(bot: Bot, kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    create_node(core, unique_name("sick"), ready=False)
    create_node(core, unique_name("held"), cordoned=True)
    outcome = bot.runs.request("status", requester(bot, "U0ALICE"))
    nodes = core.list_node().items
    ready = sum(1 for n in nodes for c in (n.status.conditions or []) if c.type == "Ready" and c.status == "True")
    cordoned = sum(1 for n in nodes if n.spec.unschedulable)
    assert outcome.report.summary is not None
    assert outcome.report.summary.startswith(
        f"{len(nodes)} nodes: {ready} Ready, {len(nodes) - ready} NotReady, {cordoned} cordoned"
    )


def test_a_user_without_rbac_is_refused_with_the_permission_named(bot: Bot) -> None:
    outcome = bot.runs.request("nodes", requester(bot, "U0NOBODY"))
    assert not outcome.ok
    assert outcome.report.title == "Not allowed"
    assert (
        outcome.report.summary
        == "nobody may not list nodes (cluster-wide) and list pods (cluster-wide) on cluster test"
    )


def test_whoami_reports_identity_and_what_rbac_allows(bot: Bot) -> None:
    alice = bot.runs.request("whoami", requester(bot, "U0ALICE"))
    assert ("Kubernetes identity", "alice (groups: oncall, readers)") in alice.report.parts[0].fields  # type: ignore[union-attr]
    (row,) = rows(alice.report.parts)
    assert row[0] == "test"
    assert "status" in row[1]
    assert "pods" in row[1]
    nobody = bot.runs.request("whoami", requester(bot, "U0NOBODY"))
    (row,) = rows(nobody.report.parts)
    assert row[1] == "nothing"
    assert "status" in row[2]


def test_calls_carry_every_group_and_the_run_id_in_the_audit_log(bot: Bot, control_plane: ControlPlane) -> None:
    outcome = bot.runs.request("nodes", requester(bot, "U0ALICE"))
    assert outcome.ok
    run_id = outcome.report.context[-1].split("run ")[-1]
    deadline = time.monotonic() + 10
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not events:
        events = [
            e
            for e in control_plane.read_audit_events()
            if (e.get("impersonatedUser") or {}).get("username") == "alice"
            and e.get("verb") == "list"
            and (e.get("objectRef") or {}).get("resource") == "nodes"
            and run_id in json.dumps(e["impersonatedUser"].get("extra"))
        ]
        time.sleep(0.2)
    assert events, "no audit event for alice's list nodes with the run id"
    event = events[0]
    # Authenticated as the bot, acting as alice with both groups and the run id.
    assert event["user"]["username"] == "admin"
    assert {"oncall", "readers"} <= set(event["impersonatedUser"]["groups"])
    assert event["impersonatedUser"]["extra"]["runbook-bot.run-id"] == [run_id]
    assert event["responseStatus"]["code"] == 200


def test_shell_runs_commands_from_stdin(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, tmp_path: Path
) -> None:
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("shellnode")
    create_node(core, name)
    wait_node_ready(core, name)
    env = {**os.environ, "KUBECONFIG": str(control_plane.admin_kubeconfig)}
    env.pop("RUNBOOK_BOT_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--context", CONTEXT],
        input=f"nodes\n/k8s pods {name}\nfrobnicate\nexit\nstatus\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    out = proc.stdout
    assert f"{name}  Ready" in out
    assert f"[i] Pods on node {name}" in out
    assert "(no pods on this node)" in out
    names = load_catalog([builtin_runbook_dir()], default_registry()).names()
    assert "unknown runbook `frobnicate`" in out
    assert "Runbooks: " + ", ".join(names) in out
    assert "Cluster envtest" not in out  # `exit` stops before `status`
    assert proc.returncode == 1  # a command failed (frobnicate)
