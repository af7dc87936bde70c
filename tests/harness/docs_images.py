"""Draw the manual's pictures of a real run: ``python -m tests.harness.docs_images`` → ``docs/img/*.png``.

Nothing here is made up. A real control plane (the test harness's kube-apiserver, etcd and kwok) gets
a node running a small shop; the real bot plans ``drain`` of that node for alice on ``prod`` (where a
drain needs one approval from the group ``leads``), she confirms, bob sees it on his App Home and
approves, the drain executes as alice and waits on a PodDisruptionBudget. At each stage the blocks
are the ones the Slack surface posts — ``report_blocks`` of the run service's report, ``home_blocks``
of the Home — drawn by ``blockkit_html`` in headless Chromium. The Block Kit JSON is kept beside
each picture (``docs/img/*.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from kubernetes import client, config

from bot.engine.bootstrap import Bot, build_bot
from bot.engine.identity import IdentityMapper
from bot.engine.inbox import RunInbox
from bot.model import Requester
from bot.report import Report
from bot.slack.blocks import report_blocks
from bot.slack.home_view import HomeContent, home_blocks
from tests.harness.binaries import ensure_binaries
from tests.harness.blockkit_html import home_html, message_html, screenshot
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.kwok_nodes import create_namespace, create_node, wait_node_ready, wait_pods_running
from tests.harness.slack_flow import PROD
from tests.harness.trust_setup import grant, settings
from tests.harness.workloads import daemonset, deployment, pdb

NODE = "ip-10-0-12-27"
SPARE = "ip-10-0-12-31"
POOL = {"node-pool": "general"}


def shop(api: client.ApiClient) -> None:
    """A node running a web Deployment under a PDB, an API Deployment and a node agent."""
    core = client.CoreV1Api(api)
    create_node(core, NODE, labels=POOL)
    wait_node_ready(core, NODE)
    create_namespace(core, "shop")
    create_namespace(core, "monitoring")
    deployment(api, "shop", "web", 3, POOL)
    deployment(api, "shop", "checkout-api", 2, POOL)
    daemonset(api, "monitoring", "node-exporter", POOL)
    pdb(api, "shop", "web-pdb", "web", max_unavailable=1)
    wait_pods_running(core, "shop", "app in (web, checkout-api)", 5)


def spare_node_later(api: client.ApiClient, seconds: float) -> threading.Timer:
    """The pool's spare node joins ``seconds`` from now: until then the evicted web pods cannot be
    replaced, so the drain waits on the PDB (as it would while a cluster autoscaler adds a node)."""

    def join() -> None:
        core = client.CoreV1Api(api)
        create_node(core, SPARE, labels=POOL)
        wait_node_ready(core, SPARE)

    timer = threading.Timer(seconds, join)
    timer.start()
    return timer


def blocks(report: Report) -> list[dict[str, Any]]:
    """The Block Kit the Slack surface posts for ``report`` (``SlackWriter.post``/``update``)."""
    return [b.to_dict() for b in report_blocks(report)]


def capture(bot: Bot, api: client.ApiClient) -> dict[str, list[dict[str, Any]]]:
    """Run the story; the blocks of each picture by name."""
    mapper = IdentityMapper(bot.settings.identity)  # explicit mappings: no users.info lookup
    alice, bob = mapper.requester("U0ALICE"), mapper.requester("U0BOB")
    shots: dict[str, list[dict[str, Any]]] = {}
    out = bot.runs.request(f"drain {NODE}", alice, PROD)
    assert out.ok, out.report
    assert out.run_id is not None
    assert out.report is not None
    run_id = out.run_id
    shots["run-plan"] = blocks(out.report)
    rec = bot.store.get_run(run_id)
    assert rec is not None
    confirmed = bot.runs.confirm(run_id, rec.plan_hash, alice)
    assert confirmed.report is not None, confirmed.notice
    shots["run-awaiting-approval"] = blocks(confirmed.report)
    shots["app-home"] = home(bot, bob)
    approved = bot.runs.approve(run_id, rec.plan_hash, bob)
    assert approved.execute, approved.notice
    progress: list[tuple[str, list[dict[str, Any]]]] = []

    def on_progress(text: str) -> None:
        """What ``RunMessages.progress`` posts: the run's message with the progress line."""
        if text.startswith("evicted") and not text.startswith("evicted 0/"):
            progress.append((text, blocks(bot.runs.report_for(run_id, [text]))))

    spare = spare_node_later(api, 4.0)
    final = bot.runs.execute(run_id, on_progress)
    spare.join()
    waiting = [shot for text, shot in progress if "waiting on PDB" in text]
    assert progress, "the drain reported no progress"
    shots["run-running"] = waiting[0] if waiting else progress[0][1]
    shots["run-done"] = blocks(final)
    return shots


def home(bot: Bot, approver: Requester) -> list[dict[str, Any]]:
    """The approver's Home while the drain waits for them (``HomeTab.content_for`` without alerts)."""
    inbox = RunInbox(bot.store, bot.engine, bot.runs.clock).for_actor(approver)
    content = HomeContent(
        who=f"{approver.display_name} · acting as {approver.describe()}", now=bot.runs.clock(), inbox=inbox
    )
    return [b.to_dict() for b in home_blocks(content)]


def main(argv: list[str] | None = None) -> int:
    """Start a control plane, run the story, write ``<out>/*.png`` and ``*.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "docs" / "img")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with ControlPlane(ensure_binaries()) as cp:
        api = config.new_client_from_config(config_file=str(cp.admin_kubeconfig), context=CONTEXT)
        grant(api)
        shop(api)
        bot = build_bot(settings(cp.admin_kubeconfig, f"sqlite:///{cp.root / 'docs-images.sqlite3'}"))
        try:
            shots = capture(bot, api)
        finally:
            bot.close()
            api.close()
    for name, shot in shots.items():
        (args.out / f"{name}.json").write_text(json.dumps(shot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        page = home_html(shot) if name == "app-home" else message_html(shot)
        screenshot(page, args.out / f"{name}.png")
        print(f"wrote {args.out / name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
