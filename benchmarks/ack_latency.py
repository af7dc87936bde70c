"""Benchmark: slash-command ack latency (signed HTTP request → 200), the bot vs a bare Bolt app.

Both apps run on the same WSGI server (waitress) on 127.0.0.1 and talk to the same local
Slack-compatible server; requests are signed like Slack's and sent sequentially, interleaved.
Target: the bot's p99 ≤ 1.5× the bare app's, and far under Slack's 3 s.

Run: ``.venv/bin/python -m benchmarks.ack_latency [--requests 500]``
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


def serve(app: App) -> tuple[Any, int]:
    server = make_http_server(ProbeAndSlackApp(app, ready=lambda: True), "127.0.0.1", 0)
    threading.Thread(target=server.run, daemon=True).start()
    return server, int(server.effective_port)


def bare_app(slack: FakeSlack) -> App:
    app = App(client=WebClient(token=TOKEN, base_url=slack.api_url), signing_secret=SECRET)

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


def once(port: int, slack: FakeSlack) -> float:
    body = slash_command_body("help", response_url=slack.response_url())
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers=signed_headers(SECRET, body), method="POST"
    )
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
        assert resp.status == 200
    return time.perf_counter() - started


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    """Measure and print p50/p99 for both apps and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    slack = FakeSlack().start()
    with tempfile.TemporaryDirectory() as tmp:
        bare_server, bare_port = serve(bare_app(slack))
        bot_server, bot_port = serve(bot_app(slack, Path(tmp)))
        for _ in range(20):  # warm up both
            once(bare_port, slack)
            once(bot_port, slack)
        bare: list[float] = []
        ours: list[float] = []
        for _ in range(args.requests):
            bare.append(once(bare_port, slack))
            ours.append(once(bot_port, slack))
        time.sleep(1.0)
        stop_http_server(bare_server)
        stop_http_server(bot_server)
    slack.stop()
    for name, xs in (("bare Bolt", bare), ("k8s-runbook-bot", ours)):
        print(
            f"{name:16} n={len(xs)} p50 {statistics.median(xs) * 1000:.2f} ms · p99 {pct(xs, 99) * 1000:.2f} ms"
            f" · max {max(xs) * 1000:.2f} ms"
        )
    print(
        f"p99 ratio bot/bare {pct(ours, 99) / pct(bare, 99):.2f} (target ≤ 1.50); "
        f"p50 ratio {statistics.median(ours) / statistics.median(bare):.2f}"
    )


if __name__ == "__main__":
    main()
