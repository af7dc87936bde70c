"""drain: kubectl semantics, PodDisruptionBudgets, timeout and abort — against the real API server + kwok."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client

from bot.engine.bootstrap import Bot, build_bot
from bot.engine.identity import IdentityMapper
from bot.store import RunRecord
from tests.harness.control_plane import ControlPlane
from tests.harness.kwok_nodes import create_node, unique_name, wait_for, wait_node_ready
from tests.harness.trust_setup import grant, settings
from tests.harness.workloads import bare_pod, daemonset, deployment, pdb, scale, statefulset

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bot(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    grant(kube_api_client)
    b = build_bot(settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path_factory.mktemp('s') / 'b.db'}"))
    yield b
    b.close()


@dataclass
class Pool:
    """A labelled pair of kwok nodes: ``node`` holds the pods, ``spare`` (added later) takes replacements."""

    api: client.ApiClient
    label: dict[str, str]
    node: str
    spare: str = ""

    def add_spare(self) -> str:
        core = client.CoreV1Api(self.api)
        self.spare = unique_name("spare")
        create_node(core, self.spare, labels=self.label)
        wait_node_ready(core, self.spare)
        return self.spare

    def pods_on(self, node: str, ns: str) -> list[client.V1Pod]:
        return [
            p
            for p in client.CoreV1Api(self.api).list_namespaced_pod(ns, field_selector=f"spec.nodeName={node}").items
            if p.metadata.deletion_timestamp is None
        ]

    def wait_running(self, ns: str, node: str, count: int) -> None:
        def probe() -> bool | None:
            pods = [p for p in self.pods_on(node, ns) if p.status.phase == "Running"]
            return True if len(pods) >= count else None

        wait_for(f"{count} running pods on {node}", probe, 60)

    def cordoned(self) -> bool:
        return bool(client.CoreV1Api(self.api).read_node(self.node).spec.unschedulable)


@pytest.fixture
def pool(kube_api_client: client.ApiClient) -> Pool:
    core = client.CoreV1Api(kube_api_client)
    label = {"drain-pool": unique_name("p")}
    node = unique_name("drainme")
    create_node(core, node, labels=label)
    wait_node_ready(core, node)
    return Pool(kube_api_client, label, node)


def alice(bot: Bot) -> Any:
    return IdentityMapper(bot.settings.identity).requester("U0ALICE")


def drain(bot: Bot, text: str) -> RunRecord:
    """Request, confirm and execute a drain on staging (no approval there); return the final record."""
    out = bot.runs.request(text, alice(bot))
    assert out.ok, out.report
    assert out.run_id, out.report
    rec = bot.store.get_run(out.run_id)
    assert rec is not None
    assert bot.runs.confirm(rec.id, rec.plan_hash, alice(bot)).execute
    bot.runs.execute(rec.id)
    final = bot.store.get_run(rec.id)
    assert final is not None
    return final


def evictions(cp: ControlPlane, ns: str, code: int | None = None) -> list[dict[str, Any]]:
    """API audit events of pod evictions in ``ns`` (optionally with a given response code)."""
    return [
        e
        for e in cp.read_audit_events()
        if (e.get("objectRef") or {}).get("subresource") == "eviction"
        and (e.get("objectRef") or {}).get("namespace") == ns
        and e.get("verb") == "create"
        and (code is None or (e.get("responseStatus") or {}).get("code") == code)
    ]


def test_drain_evicts_replicated_pods_and_leaves_daemonset_and_mirror_pods(
    bot: Bot, pool: Pool, namespace: str, kube_api_client: client.ApiClient
) -> None:
    deployment(kube_api_client, namespace, "web", 3, pool.label)
    daemonset(kube_api_client, namespace, "agent", pool.label)
    bare_pod(kube_api_client, namespace, "static-web", pool.node, annotations={"kubernetes.io/config.mirror": "x"})
    pool.wait_running(namespace, pool.node, 5)
    pool.add_spare()
    rec = drain(bot, f"drain {pool.node}")
    assert rec.state == "succeeded", rec.outcome
    assert f"Node {pool.node} drained: evicted 3 pods" in (rec.outcome or "")
    left = sorted(p.metadata.name.split("-")[0] for p in pool.pods_on(pool.node, namespace))
    assert left == ["agent", "static"], left
    assert pool.cordoned()
    plan_text = str(rec.plan)
    assert "skip " in plan_text
    assert "DaemonSet pod" in plan_text
    assert "mirror (static) pod" in plan_text


@pytest.mark.parametrize(
    ("kind", "flag"),
    [
        ("emptydir", "--delete-emptydir-data"),
        ("bare", "--force"),
        ("orphaned-daemonset", "--force"),
        ("daemonset-not-ignored", None),
    ],
)
def test_each_refusal_stops_before_any_eviction_and_leaves_the_node_cordoned(
    bot: Bot,
    pool: Pool,
    namespace: str,
    kube_api_client: client.ApiClient,
    control_plane: ControlPlane,
    kind: str,
    flag: str | None,
) -> None:
    deployment(kube_api_client, namespace, "web", 2, pool.label)
    extra = ""
    if kind == "emptydir":
        deployment(kube_api_client, namespace, "cache", 1, pool.label, emptydir=True)
        reason = "uses emptyDir"
    elif kind == "bare":
        bare_pod(kube_api_client, namespace, "lonely", pool.node)
        reason = "has no controller"
    elif kind == "orphaned-daemonset":
        # The owner's API version is no longer served, so the garbage collector cannot resolve (and
        # delete) it, while drain's DaemonSet lookup answers 404: an orphaned DaemonSet pod.
        bare_pod(
            kube_api_client,
            namespace,
            "ghost-x1",
            pool.node,
            owner={
                "apiVersion": "extensions/v1beta1",
                "kind": "DaemonSet",
                "name": "ghost",
                "uid": "00000000-0000-0000-0000-000000000001",
                "controller": True,
            },
        )
        reason = "its DaemonSet no longer exists"
    else:
        daemonset(kube_api_client, namespace, "agent", pool.label)
        extra = " --no-ignore-daemonsets"
        reason = "managed by a DaemonSet"
    pool.wait_running(namespace, pool.node, 3)
    pool.add_spare()
    rec = drain(bot, f"drain {pool.node}{extra} --timeout 60s")
    assert rec.state == "failed"
    assert "drain refused before any eviction" in (rec.outcome or "")
    assert reason in (rec.outcome or "")
    assert f"node {pool.node} stays cordoned" in (rec.outcome or "")
    assert pool.cordoned()
    assert evictions(control_plane, namespace) == [], "no pod may be evicted after a refusal"
    assert len(pool.pods_on(pool.node, namespace)) == 3
    assert "the drain will STOP after cordoning" in str(rec.plan)
    if flag:
        ok = drain(bot, f"drain {pool.node} {flag} --timeout 60s")
        assert ok.state == "succeeded", ok.outcome


def test_pdb_blocks_then_the_drain_proceeds_as_soon_as_a_replacement_is_ready(
    bot: Bot, pool: Pool, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    deployment(kube_api_client, namespace, "api", 2, pool.label)
    pool.wait_running(namespace, pool.node, 2)
    pdb(kube_api_client, namespace, "api-pdb", "api", min_available=2)
    wait_for(
        "PDB status",
        lambda: (
            True
            if client.PolicyV1Api(kube_api_client)
            .read_namespaced_pod_disruption_budget("api-pdb", namespace)
            .status.current_healthy
            == 2
            else None
        ),
        30,
    )
    pool.add_spare()
    result: list[RunRecord] = []
    worker = threading.Thread(target=lambda: result.append(drain(bot, f"drain {pool.node} --timeout 90s")))
    worker.start()
    wait_for("a 429 from the PDB", lambda: True if evictions(control_plane, namespace, 429) else None, 30)
    # blocked: the PDB said no, and nothing was evicted (no 201) while it allows 0
    assert evictions(control_plane, namespace, 201) == []
    assert len(pool.pods_on(pool.node, namespace)) == 2
    scale(kube_api_client, namespace, "api", 3)  # a replacement on the spare becomes Ready → PDB allows 1
    worker.join(90)
    (rec,) = result
    assert rec.state == "succeeded", rec.outcome
    assert pool.pods_on(pool.node, namespace) == []
    per_pod: dict[str, int] = {}
    for e in evictions(control_plane, namespace, 429):
        per_pod[e["objectRef"]["name"]] = per_pod.get(e["objectRef"]["name"], 0) + 1
    # Woken by the PDB watch: a handful of 429s per pod over the blocked period, not one every second.
    assert max(per_pod.values()) <= 4, per_pod


def test_a_pod_under_two_pdbs_fails_naming_both(
    bot: Bot, pool: Pool, namespace: str, kube_api_client: client.ApiClient
) -> None:
    deployment(kube_api_client, namespace, "db", 1, pool.label)
    pool.wait_running(namespace, pool.node, 1)
    pdb(kube_api_client, namespace, "db-pdb-a", "db", max_unavailable=1)
    pdb(kube_api_client, namespace, "db-pdb-b", "db", max_unavailable=1)
    pool.add_spare()
    rec = drain(bot, f"drain {pool.node} --timeout 30s")
    assert rec.state == "failed"
    assert "covered by more than one PodDisruptionBudget (db-pdb-a, db-pdb-b)" in (rec.outcome or ""), rec.outcome
    assert "covered by several PDBs (db-pdb-a, db-pdb-b)" in str(rec.plan)


def test_a_statefulset_pod_recreated_under_the_same_name_counts_as_gone(
    bot: Bot, pool: Pool, namespace: str, kube_api_client: client.ApiClient
) -> None:
    statefulset(kube_api_client, namespace, "kafka", 1, pool.label)
    pool.wait_running(namespace, pool.node, 1)
    before = client.CoreV1Api(kube_api_client).read_namespaced_pod("kafka-0", namespace).metadata.uid
    pool.add_spare()
    rec = drain(bot, f"drain {pool.node} --timeout 60s")
    assert rec.state == "succeeded", rec.outcome
    after = wait_for(
        "kafka-0 recreated", lambda: client.CoreV1Api(kube_api_client).read_namespaced_pod("kafka-0", namespace), 30
    )
    assert after.metadata.uid != before


def test_a_timeout_reports_which_pods_remain(
    bot: Bot, pool: Pool, namespace: str, kube_api_client: client.ApiClient
) -> None:
    deployment(kube_api_client, namespace, "stuck", 2, pool.label)
    pool.wait_running(namespace, pool.node, 2)
    pdb(kube_api_client, namespace, "stuck-pdb", "stuck", min_available=2)
    names = sorted(p.metadata.name for p in pool.pods_on(pool.node, namespace))
    rec = drain(bot, f"drain {pool.node} --timeout 4s")
    assert rec.state == "failed"
    for name in names:
        assert f"{namespace}/{name}: timed out after 4s" in (rec.outcome or ""), rec.outcome
    assert pool.cordoned()


def test_abort_stops_further_evictions_and_says_what_was_done(
    bot: Bot, pool: Pool, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    deployment(kube_api_client, namespace, "queue", 3, pool.label)
    pool.wait_running(namespace, pool.node, 3)
    pdb(kube_api_client, namespace, "queue-pdb", "queue", min_available=3)
    pool.add_spare()
    out = bot.runs.request(f"drain {pool.node} --timeout 120s", alice(bot))
    assert out.run_id
    rec = bot.store.get_run(out.run_id)
    assert rec is not None
    assert bot.runs.confirm(rec.id, rec.plan_hash, alice(bot)).execute
    worker = threading.Thread(target=bot.runs.execute, args=(rec.id,))
    worker.start()
    wait_for("blocked on the PDB", lambda: True if evictions(control_plane, namespace, 429) else None, 30)
    decision = bot.runs.abort(rec.id, rec.plan_hash, alice(bot))
    assert decision.notice == "abort requested: no further actions will be started"
    worker.join(30)
    assert not worker.is_alive()
    clicked = time.time()
    final = bot.store.get_run(rec.id)
    assert final is not None, final
    assert final.state == "aborted", final
    assert "evicted 0/3 pods; no further evictions were made" in (final.outcome or "")
    assert "stays cordoned" in (final.outcome or "")
    scale(kube_api_client, namespace, "queue", 4)  # the PDB would now allow one: nothing may be evicted
    wait_for("the PDB to allow a disruption", lambda: True if _allows(kube_api_client, namespace) else None, 60)
    late = [
        e
        for e in evictions(control_plane, namespace)
        if e.get("stageTimestamp", "") and _ts(e["stageTimestamp"]) > clicked
    ]
    assert late == []
    assert len(pool.pods_on(pool.node, namespace)) == 3


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _allows(api: client.ApiClient, namespace: str) -> bool:
    """Does some PDB of ``namespace`` allow a disruption now?"""
    pdbs = client.PolicyV1Api(api).list_namespaced_pod_disruption_budget(namespace).items
    return any((p.status.disruptions_allowed or 0) > 0 for p in pdbs)
