"""Benchmark: a health sweep of 1,000 kwok nodes and 30,000 pods vs listing the same objects raw.

In the same run, on the same control plane:

- raw: one paginated list per resource type the sweep reads (nodes, pods, deployments,
  statefulsets, daemonsets, HPAs, PDBs, jobs), each page ``json.loads``-ed and dropped;
- sweep: ``HealthService.sweep()`` — the same lists, reduced to facts, every check evaluated,
  the certificates read, the alert lifecycle applied in a SQLite store.
- raw with the cyclic GC paused: the raw listing with the same GC pause the sweep uses while
  decoding (``cyclic_gc_paused``), to show the sweep's own cost apart from that trick.

Each measurement runs in a fresh child process (so its peak RSS is its own), alternating raw and
sweep, and the medians are compared. Targets (DESIGN.md §9): sweep ≤ 1.5× raw, peak ≤ 250 MB.

Run: ``.venv/bin/python -m benchmarks.health_sweep [--nodes 1000] [--pods 30000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config

from tests.harness.binaries import ensure_binaries
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.kwok_nodes import KWOK_ANNOTATION, create_namespace, create_node, wait_for

IMAGE = "registry.local/app:1"
PAGE = 500


# ----------------------------------------------------------------------------------- children
def _settings(kubeconfig: str, store: str) -> Any:
    from bot.config.settings import Settings

    return Settings(
        clusters={"bench": {"kubeconfig": kubeconfig, "context": CONTEXT}},
        store={"url": store},
        health={"leader_election": {"enabled": False}},
        log_format="text",
    )


def child(mode: str, kubeconfig: str, store: str) -> None:
    """Measure one raw listing or one sweep in this (fresh) process; print a JSON line."""
    import tracemalloc

    from bot.clients.kube import KubeClients
    from bot.health.checks.snapshot import list_calls

    settings = _settings(kubeconfig, store)
    kube = KubeClients(settings)
    access = kube.access("bench", None)
    access.core.get_api_resources()  # connect before timing
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    service = None
    if mode == "sweep":
        from bot.health.alerting import HealthService
        from bot.store import Store

        service = HealthService(settings, kube, Store.open(store), None, runbook_exists=lambda _n: True)

    def once() -> dict[str, int]:
        if mode == "raw-gc-paused":
            from bot.health.checks.snapshot import cyclic_gc_paused

            with cyclic_gc_paused():
                return {n: sum(1 for _ in access.list_raw(call, page_size=PAGE)) for n, call in list_calls(access)}
        if service is None:
            return {name: sum(1 for _ in access.list_raw(call, page_size=PAGE)) for name, call in list_calls(access)}
        (result,) = service.sweep()
        return {"nodes": result.glance.nodes, "pods": result.glance.pods, "findings": len(result.evaluation.findings)}

    started = time.perf_counter()
    once()  # the first one in a fresh process: imports, connections, caches
    cold = time.perf_counter() - started
    trace = os.environ.get("BENCH_TRACEMALLOC") == "1"
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    counts = once()
    seconds = time.perf_counter() - started
    peak_traced = tracemalloc.get_traced_memory()[1] if trace else 0
    out = {
        "mode": mode,
        "seconds": seconds,
        "cold_seconds": cold,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "baseline_rss_mb": baseline / 1024,
        "traced_peak_mb": peak_traced / 2**20,
        "counts": counts,
    }
    print(json.dumps(out))


def run_child(mode: str, kubeconfig: Path, store: str, *, trace: bool = False) -> dict[str, Any]:
    env = {**os.environ, "BENCH_TRACEMALLOC": "1" if trace else "0"}
    argv = ["--child", mode, "--kubeconfig", str(kubeconfig), "--store", store]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.health_sweep", *argv],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------------------------ fixture
def _create_pods(chunk: tuple[str, list[int], list[str], list[str]]) -> None:
    """Create pods ``chunk[1]`` bound to kwok nodes (a worker process with 16 threads)."""
    kubeconfig, indexes, ns_names, names = chunk
    api = config.new_client_from_config(config_file=kubeconfig, context=CONTEXT)
    api.rest_client.pool_manager.connection_pool_kw["maxsize"] = 16
    core = client.CoreV1Api(api)

    def make(i: int) -> None:
        ns = ns_names[i % len(ns_names)]
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p-{i:05d}", "namespace": ns, "labels": {"app": f"app-{i % 40}"}},
            "spec": {
                "nodeName": names[i % len(names)],
                "containers": [{"name": "app", "image": IMAGE}],
                "tolerations": [{"operator": "Exists"}],
                "terminationGracePeriodSeconds": 1,
            },
        }
        core.create_namespaced_pod(ns, body, _preload_content=False)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(make, indexes))
    api.close()


def populate(api: client.ApiClient, nodes: int, pods: int, namespaces: int, not_ready: int) -> dict[str, float]:
    """Create kwok nodes and pods bound to them (no scheduler), in parallel; return the timings."""
    core = client.CoreV1Api(api)
    timings: dict[str, float] = {}
    started = time.monotonic()
    names = [f"kwok-{i:04d}" for i in range(nodes)]
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda n: create_node(core, n), names))
        list(pool.map(lambda i: create_node(core, f"down-{i:02d}", ready=False), range(not_ready)))
    timings["create_nodes_s"] = time.monotonic() - started

    def ready_count() -> int:
        return sum(
            1
            for n in core.list_node(label_selector="type=kwok").items
            if (n.metadata.annotations or {}).get(KWOK_ANNOTATION)
            and any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
        )

    wait_for(f"{nodes} kwok nodes Ready", lambda: True if ready_count() >= nodes else None, 600, interval=2)
    timings["nodes_ready_s"] = time.monotonic() - started

    started = time.monotonic()
    ns_names = [f"bench-{i:02d}" for i in range(namespaces)]
    for ns in ns_names:
        create_namespace(core, ns)

    kubeconfig = api.configuration.kubeconfig_path  # set by populate's caller
    chunks = [(kubeconfig, list(range(i, pods, 4)), ns_names, names) for i in range(4)]
    with ProcessPoolExecutor(4) as procs:
        list(procs.map(_create_pods, chunks))
    timings["create_pods_s"] = time.monotonic() - started

    def pending() -> int:
        token, left = None, 0
        while True:
            page = core.list_pod_for_all_namespaces(
                field_selector="status.phase!=Running", limit=PAGE, _continue=token, _preload_content=False
            )
            body = json.loads(page.data)
            left += len(body["items"])
            token = body["metadata"].get("continue")
            if not token:
                return left

    try:
        wait_for("pods Running", lambda: True if pending() == 0 else None, 900, interval=5)
    except TimeoutError:
        print(f"  (after 15 min, {pending()} pods still not Running; measuring anyway)")
    timings["pods_running_s"] = time.monotonic() - started
    return timings


def report(
    raws: list[dict[str, Any]], paused: list[dict[str, Any]], sweeps: list[dict[str, Any]], traced: dict[str, Any]
) -> None:
    """Print the figures: medians, the ratios against raw listing, and memory."""
    raw_s = statistics.median(r["seconds"] for r in raws)
    sweep_s = statistics.median(s["seconds"] for s in sweeps)
    print(f"objects: {raws[0]['counts']} · sweep saw {sweeps[0]['counts']}")
    cold_raw = statistics.median(r["cold_seconds"] for r in raws)
    cold_sweep = statistics.median(s["cold_seconds"] for s in sweeps)
    each_raw = ", ".join(f"{r['seconds']:.2f}" for r in raws)
    each_sweep = ", ".join(f"{s['seconds']:.2f}" for s in sweeps)
    print(f"raw list   : median {raw_s:.2f}s  ({each_raw})")
    print(f"bot sweep  : median {sweep_s:.2f}s  ({each_sweep})")
    paused_s = statistics.median(p["seconds"] for p in paused)
    each_paused = ", ".join(f"{p['seconds']:.2f}" for p in paused)
    print(f"raw list, cyclic GC paused like the sweep: median {paused_s:.2f}s  ({each_paused})")
    print(f"ratio sweep/raw: {sweep_s / raw_s:.2f}x (target <= 1.5x)")
    print(f"ratio sweep/raw with the GC paused too: {sweep_s / paused_s:.2f}x")
    cold_ratio = cold_sweep / cold_raw
    print(f"  first run in a fresh process: raw {cold_raw:.2f}s, sweep {cold_sweep:.2f}s ({cold_ratio:.2f}x)")
    peak = max(s["maxrss_mb"] for s in sweeps)
    raw_peak = max(r["maxrss_mb"] for r in raws)
    print(f"peak RSS of the sweep process: {peak:.0f} MB (target <= 250 MB)")
    before = sweeps[0]["baseline_rss_mb"]
    print(f"  RSS before the sweep {before:.0f} MB; raw listing process peak {raw_peak:.0f} MB")
    print(f"  Python heap peak during the sweep (tracemalloc): {traced['traced_peak_mb']:.0f} MB")


def main() -> None:
    """Build the cluster, then alternate raw listings and sweeps; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=30000)
    parser.add_argument("--namespaces", type=int, default=30)
    parser.add_argument("--not-ready", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["raw", "raw-gc-paused", "sweep"])
    parser.add_argument("--kubeconfig")
    parser.add_argument("--store")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.kubeconfig, args.store)
        return

    with ControlPlane(ensure_binaries()) as cp, tempfile.TemporaryDirectory() as tmp:
        print(f"control plane {cp.version} started in {cp.startup_seconds:.1f}s; {os.cpu_count()} CPUs")
        api = config.new_client_from_config(config_file=str(cp.admin_kubeconfig), context=CONTEXT)
        api.rest_client.pool_manager.connection_pool_kw["maxsize"] = 64
        api.configuration.kubeconfig_path = str(cp.admin_kubeconfig)
        timings = populate(api, args.nodes, args.pods, args.namespaces, args.not_ready)
        for key, value in timings.items():
            print(f"  {key:16} {value:7.1f}")
        per_s = args.pods / timings["create_pods_s"]
        print(f"  pod creation rate: {per_s:.0f} pods/s")
        store = f"sqlite:///{tmp}/bench.sqlite3"
        run_child("sweep", cp.admin_kubeconfig, store)  # warm-up: opens the first alerts, fills caches
        run_child("raw", cp.admin_kubeconfig, store)
        raws, paused, sweeps = [], [], []
        for _ in range(args.rounds):
            raws.append(run_child("raw", cp.admin_kubeconfig, store))
            sweeps.append(run_child("sweep", cp.admin_kubeconfig, store))
            paused.append(run_child("raw-gc-paused", cp.admin_kubeconfig, store))
        traced = run_child("sweep", cp.admin_kubeconfig, store, trace=True)
        report(raws, paused, sweeps, traced)
        api.close()


if __name__ == "__main__":
    main()
