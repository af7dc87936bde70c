"""Messages people read, against the real API server: which cluster a refusal used, which approval rule
a plan falls under, and the shell's final report (the outcome and what changed, not the plan again)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from bot.engine.bootstrap import Bot, build_bot
from bot.engine.identity import IdentityMapper
from bot.model import Requester
from bot.report import Report
from bot.shell.render import render_text
from tests.harness.control_plane import ControlPlane
from tests.harness.kwok_nodes import create_node, unique_name, wait_node_ready, wait_pods_running
from tests.harness.trust_setup import grant, settings, settings_doc
from tests.harness.workloads import deployment

pytestmark = pytest.mark.integration
DEFAULTED = (
    "used cluster staging, the default — this channel is not mapped to a cluster; add `--cluster NAME` to choose "
    "another (also: prod, prod2)"
)


@pytest.fixture(scope="module")
def bot(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    grant(kube_api_client)
    b = build_bot(settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path_factory.mktemp('msg') / 'b.db'}"))
    yield b
    b.close()


@pytest.fixture
def node(kube_api_client: client.ApiClient) -> str:
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("msgnode")
    create_node(core, name, labels={"msg-pool": name})
    wait_node_ready(core, name)
    return name


def who(bot: Bot, chat_id: str) -> Requester:
    return IdentityMapper(bot.settings.identity).requester(chat_id)


def answer(bot: Bot, text: str, chat_id: str, channel: str | None) -> str:
    out = bot.runs.request(text, who(bot, chat_id), channel)
    assert isinstance(out.report, Report)
    return render_text(out.report)


def test_a_refusal_in_a_channel_mapped_to_no_cluster_says_which_cluster_it_used(bot: Bot, node: str) -> None:
    refused = answer(bot, f"cordon {node}", "U0MALLORY", "C0RANDOM")
    assert f"mallory may not patch nodes `{node}` (cluster-wide) on cluster staging" in refused
    assert DEFAULTED in refused
    unknown = answer(bot, "cordon no-such-node", "U0ALICE", "C0RANDOM")
    assert "unknown node `no-such-node` on cluster staging" in unknown
    assert DEFAULTED in unknown
    # A channel mapped to staging, a cluster named on the command, the shell: nothing to explain.
    assert DEFAULTED not in answer(bot, f"cordon {node}", "U0MALLORY", "C0STAGING")
    assert DEFAULTED not in answer(bot, f"cordon {node} --cluster staging", "U0MALLORY", "C0RANDOM")
    assert DEFAULTED not in answer(bot, f"cordon {node}", "U0MALLORY", None)
    # A mistake in the command itself has nothing to do with the cluster.
    assert DEFAULTED not in answer(bot, "frobnicate", "U0ALICE", "C0RANDOM")


def test_the_plan_says_which_approval_rule_applies_and_why(bot: Bot, node: str) -> None:
    prod = answer(bot, f"cordon {node} --cluster prod", "U0ALICE", "C0PROD")
    assert "needs 1 approval from group leads: rule 2 (change and destructive runbooks on cluster prod)" in prod
    by_channel = answer(bot, f"cordon {node}", "U0ALICE", "C0PROD")  # the channel picks prod
    assert "needs 1 approval from group leads: rule 2" in by_channel
    twice = answer(bot, f"cordon {node} --cluster prod2", "U0ALICE", None)
    assert "needs 2 approvals from group leads: rule 1 (every runbook on cluster prod2)" in twice
    staging = answer(bot, f"cordon {node}", "U0ALICE", "C0STAGING")
    assert "no approval needed: no approval rule matches cordon (change) on staging (env:staging)" in staging


def test_the_shell_ends_a_run_with_its_outcome_and_what_changed(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, node: str, namespace: str, tmp_path: Path
) -> None:
    grant(kube_api_client)
    deployment(kube_api_client, namespace, "web", 1, {"msg-pool": node})
    (pod,) = wait_pods_running(client.CoreV1Api(kube_api_client), namespace, "app=web", 1)
    config = tmp_path / "bot.yaml"
    config.write_text(yaml.safe_dump(settings_doc(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path / 'b.db'}")))
    out = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--config", str(config), "--as", "alice"],
        input=f"drain {node}\ny\n",
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    plan, _, final = out.stdout.partition("running ")
    assert "Needs (checked against your RBAC)" in plan, "the plan, before confirming"
    assert "[i] Steps" in plan
    assert f"[ok] Done: drain on staging\nNode {node} drained: evicted 1 pods" in final
    assert "[i] What changed" in final
    assert f"  cordon node {node}" in final
    assert f"  evicted 1 of 1 pods from node {node}: {namespace}/{pod.metadata.name}" in final
    assert "Duration: " in final
    for planned in ("Needs (checked against your RBAC)", "[i] Steps", "Touches", "Confirm this plan"):
        assert planned not in final, f"the final report repeats the plan ({planned})"
