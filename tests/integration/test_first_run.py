"""First run: what stands in the way is one clear line with what to do — never a traceback.

Each case runs ``check-config``, ``shell`` and ``serve`` as real processes: a missing kubeconfig,
an API server nobody answers on (a closed loopback port), a token the real API server refuses
(401), and a store that cannot be written (a folder that does not exist; a file where the folder
should be). ``serve`` talks to a local Slack-compatible server; ``help`` never needs the cluster.

What ``serve`` does differs on purpose: a kubeconfig that cannot be loaded is the bot's own
configuration and will not fix itself, so it refuses to start (a pod crash-loops with the reason
in its log); an unreachable or refusing API server is the state of one cluster among several and
may change at any moment, so it starts, says so once, and keeps serving.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.harness.control_plane import ControlPlane, free_port
from tests.harness.kwok_nodes import wait_for
from tests.harness.slack_server import FakeSlack

pytestmark = pytest.mark.integration
CASES = ["missing-kubeconfig", "unreachable", "bad-token", "store-folder-missing", "store-folder-is-a-file"]
CLUSTER_CASES = CASES[:3]


@dataclass
class FirstRun:
    """A working directory with a config for one case, and the one line every surface must say."""

    case: str
    cwd: Path
    line: str
    port: int

    @property
    def store_case(self) -> bool:
        return self.case.startswith("store")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_BOT_", "KUBECONFIG", "COLUMNS"))}
        return {**env, "HOME": str(self.cwd)}

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [sys.executable, "-m", "bot", "--config", "bot.yaml", *args],
            cwd=self.cwd,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert "Traceback" not in out.stdout + out.stderr, out.stdout + out.stderr
        return out


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again at once: nothing answers there


def _bad_token_kubeconfig(cwd: Path, cp: ControlPlane) -> tuple[Path, str]:
    """The test control plane's kubeconfig with a token it never issued instead of the admin certificate."""
    path = cwd / "kubeconfig"
    doc = yaml.safe_load(cp.admin_kubeconfig.read_text())
    for entry in doc["users"]:
        entry["user"] = {"token": "not-a-token-this-api-server-issued"}
    path.write_text(yaml.safe_dump(doc))
    return path, (
        "cluster local: the API server refused the bot's credentials (401 Unauthorized) — the kubeconfig's "
        "token or client certificate is wrong or expired"
    )


@pytest.fixture(params=CASES)
def first_run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FirstRun]:
    case: str = request.param
    slack = FakeSlack().start()
    store = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    if case == "bad-token":
        kubeconfig, line = _bad_token_kubeconfig(tmp_path, request.getfixturevalue("control_plane"))
    elif case in CLUSTER_CASES:
        kubeconfig, line = _kubeconfig(case, tmp_path)
    else:
        kubeconfig, _ = _kubeconfig("unreachable", tmp_path)  # never reached: the store stops everything first
        if case == "store-folder-missing":
            db = tmp_path / "missing" / "bot.sqlite3"
            line = f"cannot open the SQLite store {db}: its folder {db.parent} does not exist — set store.url"
        else:
            (tmp_path / "afile").write_text("not a folder")
            db = tmp_path / "afile" / "bot.sqlite3"
            line = f"cannot open the SQLite store {db}: {db.parent} is not a folder — set store.url"
        store = f"sqlite:///{db}"
    port = free_port()
    config = {
        "clusters": {"local": {"kubeconfig": str(kubeconfig), "api_retry": {"deadline_seconds": 2}}},
        "store": {"url": store},
        "slack": {
            "mode": "http",
            "bot_token": "xoxb-first-run",
            "signing_secret": "first-run-secret",
            "api_base_url": slack.api_url,
            "listen_host": "127.0.0.1",
            "listen_port": port,
        },
        "log_format": "json",
    }
    (tmp_path / "bot.yaml").write_text(yaml.safe_dump(config))
    try:
        yield FirstRun(case, tmp_path, line, port)
    finally:
        slack.stop()


def _kubeconfig(case: str, cwd: Path) -> tuple[Path, str]:
    """Missing or unreachable (a closed loopback port): the kubeconfig path and the line the bot must say."""
    path = cwd / "kubeconfig"
    if case == "missing-kubeconfig":
        return path, (
            f"cluster local: no kubeconfig at {path} (clusters.local.kubeconfig) — mount one there or point "
            "clusters.local.kubeconfig (or $KUBECONFIG) at one"
        )
    port = _closed_port()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path.write_text(yaml.safe_dump(doc))
    return path, (
        f"cluster local: cannot reach the API server at 127.0.0.1:{port} (connection refused) — is the API server "
        "running, and is the kubeconfig's server address right?"
    )


def test_check_config(first_run: FirstRun) -> None:
    out = first_run.run("check-config")
    if first_run.store_case:
        assert out.returncode == 1
        assert out.stderr.splitlines() == [f"configuration is invalid: store.url: {first_run.line}" + _fix_tail()]
        return
    assert out.returncode == 0, out.stderr  # a cluster is not the configuration's fault where check-config runs
    assert "configuration OK: 1 cluster(s) (local)" in out.stdout
    (warning,) = [line for line in out.stderr.splitlines() if "cluster local" in line]
    assert warning.startswith(f"  warning: {first_run.line}"), warning
    if first_run.case == "missing-kubeconfig":
        assert warning.endswith("(serve refuses to start until this is fixed)")


def _fix_tail() -> str:
    return (
        " (or RUNBOOK_BOT_STORE__URL) to a file in a writable folder, e.g. "
        "sqlite:////var/lib/runbook-bot/data/runbook-bot.sqlite3 on the container image's data volume"
    )


def test_shell(first_run: FirstRun) -> None:
    out = first_run.run("shell", stdin="help\nwhoami\nstatus\n")
    if first_run.store_case:
        assert out.returncode == 1
        assert out.stderr.splitlines() == [f"configuration is invalid: store.url: {first_run.line}" + _fix_tail()]
        return
    assert out.returncode == 1  # `status` failed
    assert "[i] Runbooks" in out.stdout, "help needs no cluster"
    assert "`drain <node>" in out.stdout
    whoami, status = out.stdout.split("[i] You are ")[1].split("[x] Cluster ")
    assert "Kubernetes identity: the kubeconfig's own identity" in whoami, "whoami still shows the identity"
    assert "not checked: cluster not reached" in whoami
    assert f"[!] Clusters not reached\n  {first_run.line}" in whoami
    title = "unreachable" if first_run.case == "unreachable" else "unavailable"
    assert status.startswith(f"{title}\n{first_run.line}"), status
    assert "ref " not in status, "an explained error carries no reference"
    warnings = out.stderr.splitlines()
    if first_run.case == "missing-kubeconfig":
        assert warnings == [f"warning: {first_run.line}" + _kubeconfig_tail() + " (help works without it)"]
    else:
        assert warnings == []


def _kubeconfig_tail() -> str:
    return "; inside that cluster, set clusters.local.in_cluster: true instead"


def _log_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_serve(first_run: FirstRun) -> None:
    if first_run.case == "missing-kubeconfig" or first_run.store_case:
        out = first_run.run("serve")
        if first_run.store_case:
            assert out.returncode == 1
            assert out.stderr.splitlines() == [f"configuration is invalid: store.url: {first_run.line}" + _fix_tail()]
        else:
            assert out.returncode == 2
            assert out.stderr.splitlines() == [f"cannot serve: {first_run.line}" + _kubeconfig_tail()]
            assert not (first_run.cwd / "bot.sqlite3").exists(), "refused before touching the store"
        return
    # An API server that does not answer, or refuses the bot: serve starts and says so once.
    log = first_run.cwd / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", "bot.yaml", "serve"],
            cwd=first_run.cwd,
            env=first_run.env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    try:
        said = wait_for(
            "the warning about the cluster",
            lambda: [e for e in _log_lines(log) if first_run.line in str(e.get("message"))] or None,
            60,
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{first_run.port}/healthz", timeout=10) as resp:
            assert resp.status == 200, "serving despite the cluster"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    (event,) = said
    assert event["level"] == "warning"
    assert str(event["message"]).endswith(
        "— serving anyway: commands on cluster local fail until it answers, and the cluster_unreachable health "
        "check reports it"
    )
    text = log.read_text()
    assert "Traceback" not in text
    warnings = [e for e in _log_lines(log) if e["level"] in ("warning", "error", "critical")]
    assert warnings == [event], "one line, not one per election round"
