"""Faults between the bot and the API server, injected by a real Toxiproxy in front of kube-apiserver.

The bot's cluster config points at the proxy; the test's own admin client talks to the API server
directly, so the test sees the truth while the bot's connections are reset, slowed and cut. Truth is
the API server's audit log (every eviction the server accepted, including those whose answer the
bot never received) and the cluster's own pod list.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bot.clients.kube import KubeClients
from bot.config.settings import ApiRetrySettings, ClusterSettings, Settings
from bot.engine.bootstrap import Bot, build_bot
from bot.engine.identity import IdentityMapper
from bot.metrics import REGISTRY
from bot.store import RunRecord
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.kwok_nodes import create_node, unique_name, wait_for, wait_node_ready
from tests.harness.toxiproxy import Proxy, proxied_kubeconfig
from tests.harness.trust_setup import grant, settings_doc
from tests.harness.workloads import deployment, pdb

pytestmark = pytest.mark.integration
OUTAGE_SECONDS = 10
EVICTED = re.compile(r"evicted (\d+)/(\d+) pods")


@pytest.fixture
def faulty_bot(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, apiserver_proxy: Proxy, tmp_path: Path
) -> Iterator[Bot]:
    """The bot, every API call of it through the proxy; short request timeouts so a stalled call is noticed."""
    grant(kube_api_client)
    kubeconfig = proxied_kubeconfig(control_plane.admin_kubeconfig, apiserver_proxy, tmp_path / "proxied.kubeconfig")
    doc = settings_doc(kubeconfig, f"sqlite:///{tmp_path / 'bot.db'}")
    for cluster in doc["clusters"].values():
        cluster["request_timeout_seconds"] = 5
        cluster["api_retry"] = {"deadline_seconds": 60, "initial_backoff_seconds": 0.2, "max_backoff_seconds": 4}
    bot = build_bot(Settings(**doc))
    yield bot
    bot.close()


@dataclass
class Node:
    """A kwok node holding the pods to drain, and the pods as they were before the drain."""

    api: client.ApiClient
    ns: str
    name: str
    label: dict[str, str]
    pods: dict[str, str] = field(default_factory=dict)  # name → uid

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def on_node(self) -> list[client.V1Pod]:
        return self.core.list_namespaced_pod(self.ns, field_selector=f"spec.nodeName={self.name}").items

    def remember(self, count: int) -> None:
        def probe() -> dict[str, str] | None:
            running = [p for p in self.on_node() if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
            return {p.metadata.name: p.metadata.uid for p in running} if len(running) == count else None

        self.pods = wait_for(f"{count} running pods on {self.name}", probe, 120)

    def originals_left(self) -> list[str]:
        return sorted(p.metadata.name for p in self.on_node() if self.pods.get(p.metadata.name) == p.metadata.uid)

    def add_spare(self) -> None:
        spare = unique_name("spare")
        create_node(self.core, spare, labels=self.label)
        wait_node_ready(self.core, spare)


@pytest.fixture
def node(kube_api_client: client.ApiClient, namespace: str) -> Node:
    core = client.CoreV1Api(kube_api_client)
    label = {"fault-pool": unique_name("p")}
    name = unique_name("faulty")
    create_node(core, name, labels=label)
    wait_node_ready(core, name)
    return Node(kube_api_client, namespace, name, label)


def guarded(node: Node, app: str, replicas: int, **budget: int) -> None:
    deployment(node.api, node.ns, app, replicas, node.label)
    pdb(node.api, node.ns, f"{app}-pdb", app, **budget)


def wait_pdbs_settled(node: Node, names: list[str], healthy: int) -> None:
    policy = client.PolicyV1Api(node.api)

    def probe() -> bool | None:
        statuses = [policy.read_namespaced_pod_disruption_budget(n, node.ns).status for n in names]
        return True if all(s and s.current_healthy == healthy for s in statuses) else None

    wait_for("PDB status", probe, 60)


class DrainRun:
    """A drain requested, confirmed and executed by the bot in a thread; its progress lines recorded."""

    def __init__(self, bot: Bot, text: str) -> None:
        self.bot = bot
        self.alice = IdentityMapper(bot.settings.identity).requester("U0ALICE")
        out = bot.runs.request(text, self.alice)
        assert out.ok, out.report
        assert out.run_id, out.report
        rec = bot.store.get_run(out.run_id)
        assert rec is not None
        assert bot.runs.confirm(rec.id, rec.plan_hash, self.alice).execute
        self.run_id = rec.id
        self.lines: list[str] = []
        self.thread = threading.Thread(target=bot.runs.execute, args=(rec.id, self.lines.append), name="drain")
        self.thread.start()

    def evicted(self) -> int:
        for line in reversed(self.lines):
            match = EVICTED.search(line)
            if match:
                return int(match.group(1))
        return 0

    def wait_evicted(self, at_least: int, timeout: float) -> int:
        return wait_for(
            f"{at_least} evictions", lambda: self.evicted() if self.evicted() >= at_least else None, timeout
        )

    def finish(self, timeout: float) -> RunRecord:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the drain did not finish within {timeout}s; last: {self.lines[-1:]}"
        rec = self.bot.store.get_run(self.run_id)
        assert rec is not None
        return rec


def accepted_evictions(cp: ControlPlane, ns: str) -> Counter[str]:
    """Per pod name: evictions the API server accepted (its audit log), whatever the bot was told."""
    return Counter(
        e["objectRef"]["name"]
        for e in cp.read_audit_events()
        if (e.get("objectRef") or {}).get("subresource") == "eviction"
        and e["objectRef"].get("namespace") == ns
        and e.get("verb") == "create"
        and e.get("stage") == "ResponseComplete"
        and (e.get("responseStatus") or {}).get("code") in (200, 201)
    )


def bot_requests_between(cp: ControlPlane, since: float, until: float) -> list[dict[str, Any]]:
    """Audit events of requests made as alice (the bot impersonating her) that reached the server in a window."""

    def at(e: dict[str, Any]) -> float:
        return datetime.fromisoformat(e["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()

    return [
        e
        for e in cp.read_audit_events()
        if (e.get("impersonatedUser") or {}).get("username") == "alice" and since < at(e) < until
    ]


def retries() -> float:
    return sum(
        REGISTRY.get_sample_value("runbook_bot_api_retries_total", {"fault": f}) or 0.0
        for f in ("connect", "transport", "server", "temporary", "other")
    )


def in_window(action: Callable[[], None]) -> tuple[float, float]:
    began = time.time()
    action()
    return began, time.time()


def test_a_50_pod_drain_through_resets_latency_and_a_10s_outage_evicts_every_pod_exactly_once(
    faulty_bot: Bot, node: Node, apiserver_proxy: Proxy, control_plane: ControlPlane
) -> None:
    for app in ("free-a", "free-b"):
        deployment(node.api, node.ns, app, 10, node.label)
    for app in ("guarded-a", "guarded-b", "guarded-c"):  # one eviction at a time each: 429s, PDB waits
        guarded(node, app, 10, max_unavailable=1)
    node.remember(50)
    wait_pdbs_settled(node, ["guarded-a-pdb", "guarded-b-pdb", "guarded-c-pdb"], 10)
    node.add_spare()
    retried_before = retries()

    drain = DrainRun(faulty_bot, f"drain {node.name} --timeout 10m")
    drain.wait_evicted(20, 120)
    apiserver_proxy.latency(150, 100)
    apiserver_proxy.reset_peer(400, toxicity=0.5)  # half the connections reset 0.4 s in, mid-request or not
    under_resets = drain.evicted()
    drain.wait_evicted(under_resets + 3, 180)  # it still makes progress while connections are being reset
    apiserver_proxy.remove_toxic("reset_peer_downstream")
    left_before_outage = 50 - drain.evicted()
    began, ended = in_window(lambda: _outage(apiserver_proxy, OUTAGE_SECONDS))
    apiserver_proxy.restore()
    rec = drain.finish(420)

    assert rec.state == "succeeded", rec.outcome
    assert f"Node {node.name} drained: evicted 50 pods" in (rec.outcome or ""), rec.outcome
    assert node.originals_left() == []
    accepted = accepted_evictions(control_plane, node.ns)
    assert {name: accepted[name] for name in node.pods} == dict.fromkeys(node.pods, 1), "each pod evicted exactly once"
    assert left_before_outage > 0, "the outage must fall mid-drain"
    assert bot_requests_between(control_plane, began + 1, ended - 1) == [], "the outage did cut the bot off"
    assert retries() > retried_before, "the faults reached the bot and it retried"
    report = str(faulty_bot.runs.report_for(rec.id))
    assert "evicted 50 pods" in report
    assert "Abort" not in report


def _outage(proxy: Proxy, seconds: float) -> None:
    with proxy.outage():
        time.sleep(seconds)  # the fault itself: the API server is unreachable for this long


def test_reads_ride_out_a_stalled_connection_and_a_thin_pipe(
    control_plane: ControlPlane, apiserver_proxy: Proxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kubeconfig = proxied_kubeconfig(control_plane.admin_kubeconfig, apiserver_proxy, tmp_path / "proxied.kubeconfig")
    retry = ApiRetrySettings(deadline_seconds=90, initial_backoff_seconds=0.2, max_backoff_seconds=2)
    cluster = ClusterSettings(kubeconfig=kubeconfig, context=CONTEXT, request_timeout_seconds=2, api_retry=retry)
    factory = KubeClients(Settings(clusters={"c": cluster}, default_cluster="c"))
    kube = factory.access("c", None)
    caplog.set_level(logging.INFO, logger="bot.retry")
    apiserver_proxy.timeout(0)  # every byte held: no answer ever comes back
    listed: list[list[dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: listed.append(list(kube.list_raw(kube.core.list_namespace))))
    reader.start()
    wait_for("a timed-out attempt", lambda: True if "retrying GET /api/v1/namespaces" in caplog.text else None, 60)
    assert not listed
    apiserver_proxy.remove_toxic("timeout_downstream")
    apiserver_proxy.bandwidth(16)  # a thin pipe (16 KB/s) is slow, not broken
    reader.join(90)
    factory.close()
    assert listed
    assert "default" in {ns["metadata"]["name"] for ns in listed[0]}


def test_a_drain_that_cannot_finish_says_how_many_were_evicted_and_names_every_pod_left(
    faulty_bot: Bot, node: Node, apiserver_proxy: Proxy, control_plane: ControlPlane
) -> None:
    deployment(node.api, node.ns, "free", 10, node.label)
    guarded(node, "stuck", 10, min_available=10)  # never allows a disruption: these pods stay
    node.remember(20)
    wait_pdbs_settled(node, ["stuck-pdb"], 10)
    stuck = sorted(n for n in node.pods if n.startswith("stuck"))

    drain = DrainRun(faulty_bot, f"drain {node.name} --timeout 40s")
    drain.wait_evicted(10, 60)
    apiserver_proxy.reset_peer(0, toxicity=0.5)
    _outage(apiserver_proxy, OUTAGE_SECONDS)
    apiserver_proxy.restore()
    rec = drain.finish(180)

    outcome = rec.outcome or ""
    assert rec.state == "failed", outcome
    assert node.originals_left() == stuck
    accepted = accepted_evictions(control_plane, node.ns)
    assert sum(accepted[n] for n in node.pods) == 10
    assert all(accepted[n] == 1 for n in node.pods if n not in stuck)
    assert f"evicted 10 of 20 pods from node {node.name}" in outcome, outcome
    assert f"10 pod(s) still on node {node.name}: " in outcome, outcome
    for name in stuck:
        assert f"{node.ns}/{name}" in outcome, f"{name} is left but not named: {outcome}"
    assert "evict 20 pod(s)" not in outcome, "the plan line must not contradict the account"
    assert "stays cordoned" in outcome
