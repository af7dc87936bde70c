"""Benchmark: slash-command ack latency (signed HTTP request → 200), the bot vs a bare Bolt app.

Both apps run on the same WSGI server (waitress) on 127.0.0.1 and talk to the same local
Slack-compatible server; requests are signed like Slack's and sent sequentially, interleaved.
Target: the bot's p99 ≤ 1.5× the bare app's, and far under Slack's 3 s.

Idle (default): both apps in this process, the bot with nothing to do.
``--under-load``: the real ``runbook-bot serve`` process while it executes 8 drains blocked on
PodDisruptionBudgets (real control plane, PostgreSQL; see ``benchmarks/busy_bot.py``), against an
idle bare Bolt app in a process of its own — both measured in the same run.

Run: ``.venv/bin/python -m benchmarks.ack_latency [--requests 500] [--under-load [--runs 8]]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.config.settings import ClusterSettings, IdentitySettings, KubeIdentity, Settings, SlackSettings
from bot.engine.bootstrap import build_bot
from bot.slack.app import build_app
from bot.slack.server import ProbeAndSlackApp, make_http_server, stop_http_server
from tests.harness.slack_server import FakeSlack
from tests.harness.slack_signing import signed_headers, slash_command_body

SECRET = "bench-secret"
TOKEN = "xoxb-bench"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


BOT_IDLE = "k8s-runbook-bot (idle)"
#: The two references: Bolt's defaults, and Bolt acking on the request thread as the bot does.
BARE_KINDS = {"bare Bolt (defaults)": False, "bare Bolt (inline ack)": True}


def serve(app: App) -> tuple[Any, int]:
    server = make_http_server(ProbeAndSlackApp(app, ready=lambda: True), "127.0.0.1", 0)
    threading.Thread(target=server.run, daemon=True).start()
    return server, int(server.effective_port)


def bare_app(api_url: str, secret: str = SECRET, *, inline: bool = False) -> App:
    """A Bolt app that only acks ``/k8s``; ``inline``: the ack runs on the request thread, as in the bot."""
    app = App(client=WebClient(token=TOKEN, base_url=api_url), signing_secret=secret, process_before_response=inline)

    def ack_only(ack: Ack) -> None:
        ack()

    app.command("/k8s")(ack_only)
    return app


def bot_app(slack: FakeSlack, tmp: Path) -> App:
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    settings = Settings(
        clusters={"bench": ClusterSettings(kubeconfig=kubeconfig, context="x")},
        slack=SlackSettings(
            mode="http",
            bot_token=TOKEN,
            signing_secret=SECRET,  # type: ignore[arg-type]
            api_base_url=slack.api_url,
        ),
        identity=IdentitySettings(users={"U0ALICE": KubeIdentity(user="alice")}),
        store={"url": f"sqlite:///{tmp / 'bench.sqlite3'}"},
    )
    return build_app(build_bot(settings))


def once(port: int, slack: FakeSlack, secret: str = SECRET) -> float:
    body = slash_command_body("help", response_url=slack.response_url())
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers=signed_headers(secret, body), method="POST"
    )
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
        assert resp.status == 200
    return time.perf_counter() - started


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def interleaved(slack: FakeSlack, ports: dict[str, int], requests: int, secret: str = SECRET) -> dict[str, list[float]]:
    """Warm every app up, then ``requests`` acks of each, round-robin; the latencies in seconds by name."""
    for _ in range(20):
        for port in ports.values():
            once(port, slack, secret)
    seconds: dict[str, list[float]] = {name: [] for name in ports}
    for _ in range(requests):
        for name, port in ports.items():
            seconds[name].append(once(port, slack, secret))
    return seconds


def report(seconds: dict[str, list[float]], bot_name: str) -> None:
    """Print p50/p99/max of every app and the bot's ratios to each bare app."""
    for name, xs in seconds.items():
        print(
            f"{name:30} n={len(xs)} p50 {statistics.median(xs) * 1000:.2f} ms · p99 {pct(xs, 99) * 1000:.2f} ms"
            f" · max {max(xs) * 1000:.2f} ms"
        )
    ours = seconds[bot_name]
    for name in BARE_KINDS:
        bare = seconds[name]
        print(
            f"vs {name}: p99 ratio {pct(ours, 99) / pct(bare, 99):.2f} (target ≤ 1.50), "
            f"p50 ratio {statistics.median(ours) / statistics.median(bare):.2f}"
        )
    print(f"slowest ack of the bot {max(ours) * 1000:.0f} ms (Slack's limit 3000 ms)")


def idle(requests: int) -> None:
    """Every app in this process, the bot idle."""
    slack = FakeSlack().start()
    with tempfile.TemporaryDirectory() as tmp:
        servers = {name: serve(bare_app(slack.api_url, inline=inline)) for name, inline in BARE_KINDS.items()}
        servers[BOT_IDLE] = serve(bot_app(slack, Path(tmp)))
        seconds = interleaved(slack, {name: port for name, (_, port) in servers.items()}, requests)
        time.sleep(1.0)
        for server, _ in servers.values():
            stop_http_server(server)
    slack.stop()
    report(seconds, BOT_IDLE)


def under_load(requests: int, runs: int) -> None:
    """The real serve process executing ``runs`` blocked drains vs idle bare Bolt apps in processes of their own."""
    from benchmarks.busy_bot import busy_bot

    name = f"runbook-bot serve ({runs} runs)"
    slack = FakeSlack().start()
    try:
        with tempfile.TemporaryDirectory() as tmp, busy_bot(slack, Path(tmp), BARE_KINDS, runs) as busy:
            assert busy.still_running() == runs, "every drain executing before the measurement"
            seconds = interleaved(slack, {**busy.bare_ports, name: busy.bot_port}, requests, busy.secret)
            left = busy.still_running()
            assert left == runs, f"only {left} of {runs} drains still executing after the measurement"
            print(f"\n{runs} drains executing (blocked on PDBs) in the serve process throughout the measurement")
            report(seconds, name)
    finally:
        slack.stop()


def serve_bare(port: int, api_url: str, *, inline: bool) -> None:
    """Serve a bare Bolt app on 127.0.0.1:``port`` until killed (``--under-load`` runs them as processes)."""
    from tests.harness.bot_server import SIGNING_SECRET

    app = ProbeAndSlackApp(bare_app(api_url, SIGNING_SECRET, inline=inline), ready=lambda: True)
    make_http_server(app, "127.0.0.1", port).run()


def main() -> None:
    """Measure and print p50/p99 for every app and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--under-load", action="store_true", help="the serve process while it executes long runs")
    parser.add_argument("--runs", type=int, default=8, help="long runs executing during --under-load")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--inline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--slack-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.slack_url, inline=args.inline)
    elif args.under_load:
        under_load(args.requests, args.runs)
    else:
        idle(args.requests)


if __name__ == "__main__":
    main()
