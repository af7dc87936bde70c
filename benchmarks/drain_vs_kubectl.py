"""Benchmark: the bot's drain vs ``kubectl drain`` on identical nodes, in the same run.

Each node carries 100 pods (10 Deployments × 10 replicas) whose PodDisruptionBudgets allow one
disruption at a time, so most evictions first get 429. kubectl retries a 429 on a blind 5 s
timer; the bot retries when the PDB watch says a disruption is allowed. Target: ratio ≤ 0.7.

Run: ``.venv/bin/python -m benchmarks.drain_vs_kubectl [--deployments 10] [--replicas 10] [--rounds 1]``
"""

from __future__ import annotations

import argparse
import subprocess
import time
from typing import Any

from kubernetes import client, config

from bot.config.settings import ClusterSettings, Settings
from bot.engine.bootstrap import build_bot
from bot.model import Requester
from tests.harness.binaries import ensure_binaries
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.kwok_nodes import create_namespace, create_node, wait_for, wait_node_ready
from tests.harness.workloads import deployment, pdb


def prepare(api: client.ApiClient, name: str, deployments: int, replicas: int) -> str:
    """A node labelled pool=<name> holding deployments×replicas pods, plus two spare nodes after."""
    core = client.CoreV1Api(api)
    label = {"pool": name}
    node = f"{name}-node"
    create_node(core, node, labels=label)
    wait_node_ready(core, node)
    create_namespace(core, name)
    for i in range(deployments):
        deployment(api, name, f"app{i}", replicas, label)
        pdb(api, name, f"app{i}-pdb", f"app{i}", max_unavailable=1)
    total = deployments * replicas

    def all_running() -> bool | None:
        pods = core.list_namespaced_pod(name, field_selector=f"spec.nodeName={node}").items
        return True if sum(1 for p in pods if p.status.phase == "Running") >= total else None

    wait_for(f"{total} pods running on {node}", all_running, 300)
    policy = client.PolicyV1Api(api)
    wait_for(
        "PDBs observed",
        lambda: (
            True
            if all(
                (p.status.disruptions_allowed or 0) >= 1
                for p in policy.list_namespaced_pod_disruption_budget(name).items
            )
            else None
        ),
        120,
    )
    for spare in (f"{name}-spare-1", f"{name}-spare-2"):
        create_node(core, spare, labels=label)
        wait_node_ready(core, spare)
    return node


def bot_drain(cp: ControlPlane, node: str, tmp: str) -> float:
    settings = Settings(
        clusters={"bench": ClusterSettings(kubeconfig=cp.admin_kubeconfig, context=CONTEXT)},
        store={"url": f"sqlite:///{tmp}/bench.sqlite3"},
    )
    bot = build_bot(settings)
    me = Requester("bench", "benchmark", None)
    out = bot.runs.request(f"drain {node} --timeout 30m", me)
    assert out.run_id, out.report
    rec = bot.store.get_run(out.run_id)
    assert rec is not None
    started = time.monotonic()
    assert bot.runs.confirm(rec.id, rec.plan_hash, me).execute
    bot.runs.execute(rec.id)
    took = time.monotonic() - started
    final = bot.store.get_run(rec.id)
    bot.close()
    if final is None or final.state != "succeeded":
        raise RuntimeError(f"the bot's drain did not succeed: {final.outcome if final else 'no run'}")
    return took


def kubectl_drain(cp: ControlPlane, node: str) -> float:
    kubectl = str(ensure_binaries() / "kubectl")
    started = time.monotonic()
    subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            str(cp.admin_kubeconfig),
            "--context",
            CONTEXT,
            "drain",
            node,
            "--ignore-daemonsets",
            "--timeout=30m",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.monotonic() - started


def main() -> None:
    """Run the comparison and print both times and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    import tempfile

    with ControlPlane(ensure_binaries()) as cp, tempfile.TemporaryDirectory() as tmp:
        api = config.new_client_from_config(config_file=str(cp.admin_kubeconfig), context=CONTEXT)
        print(f"kube-apiserver {cp.version}; {args.deployments}×{args.replicas} pods per node, PDB maxUnavailable=1")
        results: list[dict[str, Any]] = []
        for r in range(args.rounds):
            t0 = time.monotonic()
            a = prepare(api, f"bot{r}", args.deployments, args.replicas)
            b = prepare(api, f"kctl{r}", args.deployments, args.replicas)
            print(f"round {r + 1}: setup {time.monotonic() - t0:.0f}s")
            # Alternate who goes first so neither always runs on a quieter cluster.
            if r % 2 == 0:
                bot_s, kubectl_s = bot_drain(cp, a, tmp), kubectl_drain(cp, b)
            else:
                kubectl_s, bot_s = kubectl_drain(cp, b), bot_drain(cp, a, tmp)
            results.append({"bot": bot_s, "kubectl": kubectl_s})
            print(
                f"round {r + 1}: bot drain {bot_s:.1f}s · kubectl drain {kubectl_s:.1f}s · "
                f"ratio {bot_s / kubectl_s:.2f} (target ≤ 0.70)"
            )
        bot_total = sum(x["bot"] for x in results)
        kubectl_total = sum(x["kubectl"] for x in results)
        print(f"TOTAL bot {bot_total:.1f}s · kubectl {kubectl_total:.1f}s · ratio {bot_total / kubectl_total:.2f}")
        api.close()


if __name__ == "__main__":
    main()
