"""The load of ``benchmarks.ack_latency --under-load``: the real ``runbook-bot serve`` process while it
executes long runs, and bare Bolt apps in processes of their own for reference.

A real control plane (kube-apiserver + kwok) gets one kwok node per run, each holding a pod under
a PodDisruptionBudget that allows no disruption, so every drain stays blocked (watching its PDB,
heart-beating, publishing progress) for as long as the measurement lasts. The bot runs as an
operator runs it: ``python -m bot serve --config FILE`` on a PostgreSQL store, Slack in HTTP mode
against the local Slack server; the drains are requested and confirmed through signed requests.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from kubernetes import config as kube_config

from bot.store import Store
from tests.harness.binaries import ensure_binaries
from tests.harness.bot_process import BotProcess, process_config
from tests.harness.bot_server import SIGNING_SECRET
from tests.harness.control_plane import CONTEXT, LOOPBACK, ControlPlane, free_port
from tests.harness.ha_flow import REQUESTER, actions_of, run_id_of, slash, wait_plan, wait_update
from tests.harness.held_pods import DrainNodes, held, wait_pdb_blocks, wait_running
from tests.harness.postgres import PostgresServer
from tests.harness.slack_flow import click
from tests.harness.slack_server import FakeSlack
from tests.harness.trust_setup import grant


@dataclass
class BusyBot:
    """Where to send requests: the bot executing ``runs`` and the bare app; ``still_running`` checks the load."""

    bot_port: int
    bare_ports: dict[str, int]
    secret: str
    runs: list[str]
    store: Store

    def still_running(self) -> int:
        """How many of the long runs are still executing."""
        return sum(1 for run_id in self.runs if (rec := self.store.get_run(run_id)) and rec.state == "running")


def _bare_process(slack: FakeSlack, log: Path, *, inline: bool) -> tuple[subprocess.Popen[bytes], int]:
    """``python -m benchmarks.ack_latency --serve-bare PORT`` (a bare Bolt app), once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.ack_latency", "--serve-bare", str(port), "--slack-url", slack.api_url]
    command += ["--inline"] if inline else []
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the bare Bolt app exited with code {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the bare Bolt app did not start within 60s")


def _start_drains(bot: BotProcess, slack: FakeSlack, nodes: list[str]) -> list[str]:
    """Request and confirm one drain per node through signed requests; their run ids once all are blocked."""
    for node in nodes:
        slash(bot, slack, f"drain {node} --timeout 6h")
    plans = [wait_plan(slack, node) for node in nodes]
    for plan in plans:
        assert "rb_confirm" in actions_of(plan)
        click(bot, plan, "rb_confirm", REQUESTER)
    for plan in plans:
        wait_update(slack, str(plan.args["ts"]), "waiting on PDB", timeout=180)
    return [run_id_of(plan) for plan in plans]


@contextmanager
def busy_bot(slack: FakeSlack, tmp: Path, bare_kinds: dict[str, bool], runs: int = 8) -> Iterator[BusyBot]:
    """The bot executing ``runs`` blocked drains, and a bare Bolt app per kind (name → inline ack); all
    stopped on exit."""
    with ExitStack() as stack:
        print(f"starting the control plane, PostgreSQL and {runs} blocked drains…", flush=True)
        cp = ControlPlane(ensure_binaries())
        cp.start()
        stack.callback(cp.stop)
        pg = PostgresServer()
        pg.start()
        stack.callback(pg.stop)
        api = kube_config.new_client_from_config(config_file=str(cp.admin_kubeconfig), context=CONTEXT)
        stack.callback(api.close)
        grant(api)
        cluster = DrainNodes(api, "bench")
        stack.callback(cluster.close)
        nodes = [cluster.node() for _ in range(runs)]
        for i, node in enumerate(nodes):
            held(api, cluster.namespace, f"held-{i}", node, replicas=1)
        for i, node in enumerate(nodes):
            wait_running(cluster.core, cluster.namespace, f"held-{i}", 1, node)
            wait_pdb_blocks(api, cluster.namespace, f"held-{i}-pdb", 1)
        store_url = pg.new_database("ack_bench")
        cfg = process_config(
            tmp / "bot.yaml", cp.admin_kubeconfig, slack, store_url, execution={"workers": runs, "per_user": runs}
        )
        bot = BotProcess("bench", cfg, tmp)
        stack.callback(bot.stop)
        bot.start()
        run_ids = _start_drains(bot, slack, nodes)
        bare_ports = {}
        for i, (name, inline) in enumerate(bare_kinds.items()):
            bare, bare_ports[name] = _bare_process(slack, tmp / f"bare-{i}.log", inline=inline)
            stack.callback(bare.wait, 30)
            stack.callback(bare.terminate)
        store = Store(store_url)
        stack.callback(store.close)
        yield BusyBot(bot.port, bare_ports, SIGNING_SECRET, run_ids, store)
