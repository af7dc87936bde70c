"""Idle bot benchmark (DESIGN §9: idle ``serve`` ≤ 100 MB RSS, start ≤ 2 s), against a bare Bolt app.

The bot runs as an operator runs it: ``python -m bot serve --config FILE`` on the embedded SQLite
store, Slack in HTTP mode against the local Slack server, one cluster on a real kube-apiserver,
health checks on their default schedule. **Start** is the wall time from ``exec`` to ``/healthz``
answering 200, and to ``/readyz`` answering 200 (ready for Slack). **RSS** is the process's
``VmRSS`` after it has been idle for ``--idle`` seconds (and its ``VmHWM``, the peak so far).
The reference is a bare Bolt app that only acks ``/k8s``, served by waitress with a ``/healthz``
(``--serve-bare``: a process that imports slack_bolt and waitress and nothing of the bot), measured
the same way. Rounds alternate; medians are compared.

Run: ``python -m benchmarks.idle_bot [--rounds 3] [--idle 15]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.harness.slack_server import FakeSlack

MB = 1024
LOOPBACK = "127.0.0.1"


def serve_bare(port: int, api_url: str) -> None:
    """The reference: a Bolt app that acks ``/k8s``, on waitress, with ``/healthz`` — nothing else loaded."""
    from collections.abc import Callable, Iterable

    from slack_bolt import Ack, App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient
    from waitress import serve

    app = App(client=WebClient(token="xoxb-idle-bench", base_url=api_url), signing_secret="idle-bench-secret")

    @app.command("/k8s")
    def ack_only(ack: Ack) -> None:
        ack()

    slack = SlackRequestHandler(app)

    def wsgi(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return slack(environ, start)  # type: ignore[no-any-return]

    serve(wsgi, host=LOOPBACK, port=port, _quiet=True)


def status_kb(pid: int, field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of process ``pid`` in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def reading(pid: int, healthz: float, readyz: float) -> dict[str, float]:
    """One round's figures: seconds to /healthz and /readyz, RSS now and its peak (MiB)."""
    return {
        "healthz": healthz,
        "readyz": readyz,
        "rss": status_kb(pid, "VmRSS") / MB,
        "hwm": status_kb(pid, "VmHWM") / MB,
    }


def answers(port: int, path: str) -> bool:
    """Whether ``http://127.0.0.1:port/path`` answers 200."""
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{path}", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def wait_for(proc: subprocess.Popen[bytes], port: int, path: str, began: float) -> float:
    """Seconds from ``began`` until ``path`` answers (polled every 10 ms)."""
    deadline = began + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the process exited with code {proc.returncode} while starting")
        if answers(port, path):
            return time.monotonic() - began
        time.sleep(0.01)
    raise RuntimeError(f"{path} did not answer within 120 s")


def bot_round(config: Path, tmp: Path, idle: float) -> dict[str, float]:
    """Start the bot, time /healthz and /readyz, idle, read its memory, stop it."""
    from tests.harness.bot_process import BotProcess

    bot = BotProcess("idle", config, tmp)
    began = time.monotonic()
    bot.launch()
    proc = bot._proc  # the harness's process handle: its pid and liveness
    assert proc is not None
    try:
        healthy = wait_for(proc, bot.port, "/healthz", began)
        ready = wait_for(proc, bot.port, "/readyz", began)
        time.sleep(idle)
        return reading(proc.pid, healthy, ready)
    finally:
        bot.stop()


def bare_round(slack: FakeSlack, tmp: Path, idle: float) -> dict[str, float]:
    """Start the bare Bolt app the same way, time /healthz, idle, read its memory, stop it."""
    from tests.harness.control_plane import free_port

    port = free_port()
    command = [sys.executable, "-m", "benchmarks.idle_bot", "--serve-bare", str(port), "--slack-url", slack.api_url]
    with (tmp / "bare.log").open("ab") as log:
        began = time.monotonic()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        healthy = wait_for(proc, port, "/healthz", began)
        time.sleep(idle)
        return reading(proc.pid, healthy, healthy)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    """Measure and print medians, ratios and the design's absolute targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=15.0, help="seconds idle before memory is read")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--slack-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.slack_url)
        return
    import yaml

    from tests.harness.binaries import ensure_binaries
    from tests.harness.bot_process import process_config
    from tests.harness.control_plane import ControlPlane
    from tests.harness.slack_server import FakeSlack

    cp = ControlPlane(ensure_binaries())
    cp.start()
    slack = FakeSlack().start()
    try:
        with tempfile.TemporaryDirectory(prefix="idle-bench-") as name:
            tmp = Path(name)
            config = process_config(tmp / "bot.yaml", cp.admin_kubeconfig, slack, f"sqlite:///{tmp / 'bot.sqlite3'}")
            doc = yaml.safe_load(config.read_text())
            del doc["health"]  # the default schedule, as shipped
            config.write_text(yaml.safe_dump(doc, sort_keys=False))
            bots, bares = [], []
            for rnd in range(args.rounds):
                bots.append(bot_round(config, tmp, args.idle))
                bares.append(bare_round(slack, tmp, args.idle))
                b, r = bots[-1], bares[-1]
                print(
                    f"round {rnd + 1}: bot /healthz {b['healthz']:.2f}s, /readyz {b['readyz']:.2f}s, "
                    f"RSS {b['rss']:.1f} MiB (peak {b['hwm']:.1f}) · bare Bolt app /healthz {r['healthz']:.2f}s, "
                    f"RSS {r['rss']:.1f} MiB (peak {r['hwm']:.1f})",
                    flush=True,
                )
    finally:
        slack.stop()
        cp.stop()

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    print(
        f"\nmedian: bot ready in {med(bots, 'readyz'):.2f}s (healthz {med(bots, 'healthz'):.2f}s), "
        f"RSS {med(bots, 'rss'):.1f} MiB · bare Bolt app {med(bares, 'healthz'):.2f}s, RSS {med(bares, 'rss'):.1f} MiB"
        f"\nratios bot / bare: start {med(bots, 'readyz') / med(bares, 'healthz'):.2f}×, "
        f"RSS {med(bots, 'rss') / med(bares, 'rss'):.2f}×"
        f"\ndesign targets: RSS ≤ 100 MB → {'met' if med(bots, 'rss') * 1.048576 <= 100 else 'NOT met'} "
        f"({med(bots, 'rss') * 1.048576:.0f} MB); start ≤ 2 s → "
        f"{'met' if med(bots, 'readyz') <= 2 else 'NOT met'} ({med(bots, 'readyz'):.2f} s)"
    )


if __name__ == "__main__":
    main()
