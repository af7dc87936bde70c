"""triage <node>: a NotReady node and a node with crash-looping pods, on the real API server + kwok."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from kubernetes import client

from bot.engine.bootstrap import Bot, build_bot
from bot.report import Section, Table
from tests.harness import workload_setup as ws
from tests.harness.control_plane import ControlPlane
from tests.harness.kwok_nodes import create_node, unique_name
from tests.harness.runs import plan_text, read
from tests.harness.trust_setup import grant, settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bot(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    grant(kube_api_client)
    b = build_bot(settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path_factory.mktemp('t') / 'b.db'}"))
    yield b
    b.close()


def node_event(api: client.ApiClient, node: str, reason: str, message: str) -> None:
    now = datetime.datetime.now(datetime.UTC)
    client.CoreV1Api(api).create_namespaced_event(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{node}.{reason.lower()}"},
            "involvedObject": {"kind": "Node", "name": node, "apiVersion": "v1"},
            "reason": reason,
            "message": message,
            "type": "Warning",
            "count": 3,
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": {"component": "node-controller"},
        },
    )


def section(report: object, title_part: str) -> Section:
    (found,) = [p for p in report.parts if isinstance(p, Section) and title_part in (p.title or "")]  # type: ignore[attr-defined]
    return found


def test_a_not_ready_node_offers_cordon_drain_and_replace(
    bot: Bot, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    node = unique_name("sick")
    create_node(client.CoreV1Api(kube_api_client), node, ready=False)
    node_event(kube_api_client, node, "NodeNotReady", "Node is not ready")
    report = read(bot, f"triage {node}")
    assert report.title == f"Triage of node {node}: NotReady"
    finding = section(report, f"{node} is NotReady")
    assert any(line.startswith("Ready=False (KubeletNotReady) since ") for line in finding.lines)
    assert [(a.label, a.value) for a in finding.actions] == [
        ("Cordon", f"cordon {node} --cluster staging"),
        ("Drain", f"drain {node} --cluster staging"),
        ("Replace node", f"replace-node {node} --cluster staging"),
    ]
    assert len({a.kind for p in report.parts if isinstance(p, Section) for a in p.actions}) == 3, "unique button ids"
    text = plan_text(report)
    assert "NodeNotReady" in text
    assert "Node is not ready" in text
    assert "kubelet fake" in (report.summary or "")
    assert "not shown: metrics.k8s.io is not served on this cluster (no metrics-server)" in text, text
    run_id = report.context[-1].split("run ")[-1]
    reads = [e for e in control_plane.read_audit_events() if run_id in str(e.get("impersonatedUser"))]
    assert {(e["verb"], (e.get("objectRef") or {}).get("resource")) for e in reads} >= {
        ("get", "nodes"),
        ("list", "pods"),
        ("list", "events"),
    }
    assert {e["impersonatedUser"]["username"] for e in reads} == {"alice"}


def test_crash_looping_pods_are_ranked_by_restarts(bot: Bot, namespace: str, kube_api_client: client.ApiClient) -> None:
    pool = ws.pool_node(kube_api_client)
    ws.deployment(kube_api_client, namespace, "crashy", 3, pool, fail="CrashLoopBackOff")
    ws.deployment(kube_api_client, namespace, "fine", 1, pool)
    ws.failing(kube_api_client, namespace, "crashy", 3, "CrashLoopBackOff")
    ws.rolled_out(kube_api_client, namespace, "fine")
    (pod,) = ws.pods(kube_api_client, namespace, "fine")
    report = read(bot, f"triage {pod.spec.node_name}")
    assert report.title == f"Triage of node {pod.spec.node_name}: Ready"
    finding = section(report, "3 pods crash-looping here")
    assert all("(CrashLoopBackOff, 5 restarts)" in line for line in finding.lines)
    assert [a.label for a in finding.actions] == ["Drain"]
    (pods,) = [p for p in report.parts if isinstance(p, Table) and p.title == "Pods by restarts"]
    assert [row[2] for row in pods.rows] == ["5", "5", "5", "0"]
    assert pods.rows[-1][0] == f"{namespace}/{pod.metadata.name}"
