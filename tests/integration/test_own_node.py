"""The drain plan warns when the node hosts the bot itself (the chart's POD_NAME / POD_NAMESPACE).

Real API server + kwok: a Deployment standing in for the bot runs one pod on a kwok node; the
process's downward-API variables name that pod. replace-node (which includes the drain) is
checked in test_replace_node.py with its cloud.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from bot.engine.bootstrap import Bot, build_bot
from bot.engine.identity import IdentityMapper
from bot.report import Report
from bot.shell.render import render_text
from tests.harness.control_plane import ControlPlane
from tests.harness.kwok_nodes import create_node, unique_name, wait_node_ready, wait_pods_running
from tests.harness.trust_setup import grant, settings
from tests.harness.workloads import deployment

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bot(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    grant(kube_api_client)
    b = build_bot(settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path_factory.mktemp('own') / 'b.db'}"))
    yield b
    b.close()


@pytest.fixture
def bot_pod_node(kube_api_client: client.ApiClient, namespace: str) -> tuple[str, str]:
    """(node, pod): a kwok node running the one pod of a Deployment called runbook-bot."""
    core = client.CoreV1Api(kube_api_client)
    label = {"own-pool": unique_name("p")}
    node = unique_name("botnode")
    create_node(core, node, labels=label)
    wait_node_ready(core, node)
    deployment(kube_api_client, namespace, "runbook-bot", 1, label)
    (pod,) = wait_pods_running(core, namespace, "app=runbook-bot", 1)
    return node, pod.metadata.name


def plan_text(bot: Bot, command: str) -> str:
    out = bot.runs.request(command, IdentityMapper(bot.settings.identity).requester("U0ALICE"))
    assert out.ok, out.report
    assert out.pending
    assert isinstance(out.report, Report)
    return render_text(out.report)


def test_draining_the_bots_own_node_warns_that_the_run_would_be_cut_off(
    bot: Bot, bot_pod_node: tuple[str, str], namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, pod = bot_pod_node
    monkeypatch.setenv("POD_NAME", pod)
    monkeypatch.setenv("POD_NAMESPACE", namespace)
    text = " ".join(plan_text(bot, f"drain {node}").split())
    assert f"[!] Warnings node {node} runs the bot itself (pod {namespace}/{pod}): the drain evicts it mid-run." in text
    assert "records it interrupted — the node stays cordoned and the pods not yet evicted stay" in text
    assert "no replica resumes it" in text
    assert "With SQLite the bot has a single replica: it is down until its pod runs on another node." in text
    assert f"cordon {node}, run `kubectl -n {namespace} rollout restart deployment/runbook-bot`" in text


def test_no_warning_when_the_bot_runs_elsewhere_or_outside_kubernetes(
    bot: Bot, bot_pod_node: tuple[str, str], namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, _ = bot_pod_node
    monkeypatch.setenv("POD_NAME", "runbook-bot-5d8f9c7b6-elsewhere")
    monkeypatch.setenv("POD_NAMESPACE", namespace)
    assert "runs the bot itself" not in plan_text(bot, f"drain {node}")
    monkeypatch.delenv("POD_NAME")
    monkeypatch.delenv("POD_NAMESPACE")
    assert "runs the bot itself" not in plan_text(bot, f"drain {node}")
