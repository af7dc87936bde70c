"""The real ``runbook-bot`` as OS processes: ``serve`` replicas driven only through signed Slack
HTTP requests, and one-shot ``shell`` / ``check-config`` runs — as an operator runs them.

``process_config`` writes one YAML file shared by every process of a test (the cast's clusters
and identities from ``trust_setup``, Slack in HTTP mode against a ``FakeSlack``, a PostgreSQL
store, small execution timings, health checks off, JSON logs). The Slack tokens are never in
that file: ``BotProcess`` gives them to ``python -m bot serve --config FILE`` through
``RUNBOOK_BOT_SLACK__BOT_TOKEN`` / ``RUNBOOK_BOT_SLACK__SIGNING_SECRET``, with its own free
127.0.0.1 port (``RUNBOOK_BOT_SLACK__LISTEN_PORT``), waits for ``/healthz``, keeps its stderr log
in a file, and can be killed (``kill9``), terminated (``terminate``: SIGTERM, waits, returns the
exit code and how long it took) or stopped. Start processes from the test's main thread: they
die with the thread that started them (``PR_SET_PDEATHSIG``), so a crashed pytest leaves none.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from tests.harness.bot_server import BOT_TOKEN, SIGNING_SECRET
from tests.harness.control_plane import LOOPBACK, _die_with_parent, free_port
from tests.harness.slack_server import FakeSlack
from tests.harness.trust_setup import settings_doc

REPO = Path(__file__).resolve().parents[2]
#: Small timings, so a dead owner is noticed in seconds (the validator wants stale ≥ 3 × heartbeat).
TEST_EXECUTION: dict[str, Any] = {
    "heartbeat_seconds": 1,
    "stale_after_seconds": 5,
    "recover_every_seconds": 1,
    "shutdown_grace_seconds": 10,
}
STARTUP_SECONDS = 60.0


def process_config(
    path: Path,
    kubeconfig: Path,
    slack: FakeSlack,
    store_url: str,
    *,
    execution: dict[str, Any] | None = None,
    cloud: dict[str, Any] | None = None,
    audit_channel: str | None = None,
) -> Path:
    """Write the shared config YAML to ``path``; ``cloud`` becomes cluster ``staging``'s cloud section."""
    doc = settings_doc(kubeconfig, store_url, audit_channel)
    if cloud is not None:
        doc["clusters"]["staging"]["cloud"] = cloud
    doc["slack"] = {**doc["slack"], "mode": "http", "api_base_url": slack.api_url, "listen_host": LOOPBACK}
    doc["execution"] = {**TEST_EXECUTION, **(execution or {})}
    doc["health"] = {"enabled": False}
    doc["log_format"] = "json"
    doc["log_level"] = "INFO"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _base_env() -> dict[str, str]:
    """This environment without anything that would configure the bot behind the config file's back."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_BOT_") and k != "KUBECONFIG"}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Exited:
    """How a process ended: its exit code and the seconds from the signal to its exit."""

    code: int
    seconds: float


class BotProcess:
    """One ``runbook-bot serve`` replica (HTTP mode) as a child process."""

    def __init__(self, name: str, config: Path, log_dir: Path) -> None:
        self.name = name
        self.config = config
        self.log_path = log_dir / f"{name}.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._term_sent: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> BotProcess:
        """Start ``python -m bot serve --config FILE`` and wait until /healthz answers."""
        return self.launch().wait_ready()

    def launch(self) -> BotProcess:
        """Start the process on a free port (``wait_ready`` waits for it: start several, then wait)."""
        self.port = free_port()
        env = _base_env()
        env.update(
            RUNBOOK_BOT_SLACK__BOT_TOKEN=BOT_TOKEN,
            RUNBOOK_BOT_SLACK__SIGNING_SECRET=SIGNING_SECRET,
            RUNBOOK_BOT_SLACK__LISTEN_PORT=str(self.port),
            POD_NAME=self.name,  # the owner id names the replica: "<name>-<pid>-<random>"
        )
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--config", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env=env,
            cwd=REPO,
            preexec_fn=_die_with_parent,
        )
        return self

    def wait_ready(self, *, retries: int = 2) -> BotProcess:
        """Wait until /healthz answers; relaunch on another port if the chosen one was taken meanwhile."""
        assert self._proc is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                self._close_log()
                if "address already in use" in self.log().lower() and retries > 0:
                    return self.launch().wait_ready(retries=retries - 1)
                raise AssertionError(f"{self.name} exited with code {code} while starting; its log:\n{self.tail()}")
            if self._healthy():
                return self
            time.sleep(0.1)
        self.kill9()
        raise AssertionError(f"{self.name} did not answer /healthz within {STARTUP_SECONDS:.0f}s; log:\n{self.tail()}")

    def ready(self) -> bool:
        """Whether /readyz says ready (False once it drains on SIGTERM, or cannot be reached)."""
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def _healthy(self) -> bool:
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    @property
    def pid(self) -> int:
        """The process id."""
        assert self._proc is not None
        return self._proc.pid

    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def kill9(self) -> float:
        """SIGKILL (no chance to clean up) and reap; the wall-clock time (``time.time()``) of the kill."""
        assert self._proc is not None
        at = time.time()
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        self._proc.wait(timeout=30)
        self._close_log()
        return at

    def terminate(self, timeout: float = 60.0) -> Exited:
        """SIGTERM, then wait for the exit: its code and the seconds it took."""
        self.send_term()
        return self.wait_exit(timeout)

    def send_term(self) -> float:
        """SIGTERM (as Kubernetes stops a pod) without waiting; the wall-clock time (``time.time()``) it was sent."""
        assert self._proc is not None
        self._term_sent = time.monotonic()
        at = time.time()
        self._proc.send_signal(signal.SIGTERM)
        return at

    def wait_exit(self, timeout: float = 60.0) -> Exited:
        """Wait for the process to exit: its code and the seconds since ``send_term``."""
        assert self._proc is not None
        assert self._term_sent is not None
        code = self._proc.wait(timeout=timeout)
        took = time.monotonic() - self._term_sent
        self._close_log()
        return Exited(code, took)

    def stop(self) -> None:
        """Teardown: SIGTERM, and SIGKILL if it does not exit within a minute; idempotent."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=30)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- logs --------------------------------------------------------------------------------------
    def log(self) -> str:
        """Everything the process wrote so far (stderr: JSON log lines)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        """The last lines of its log."""
        return "\n".join(self.log().splitlines()[-lines:])

    # -- HTTP ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the replica."""
        return f"http://{LOOPBACK}:{self.port}"

    def post(self, path: str, body: str, headers: dict[str, str], timeout: float = 10.0) -> tuple[int, str]:
        """POST and return (status, body) without raising on HTTP errors."""
        req = urllib.request.Request(self.url + path, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def get(self, path: str) -> tuple[int, str]:
        """GET and return (status, body) without raising on HTTP errors."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def start_replicas(config: Path, log_dir: Path, *names: str) -> list[BotProcess]:
    """Start one ``serve`` process per name at once (they load in parallel), then wait for each."""
    replicas = [BotProcess(name, config, log_dir).launch() for name in names]
    for replica in replicas:
        replica.wait_ready()
    return replicas


def run_cli(config: Path, *args: str, stdin: str = "", timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot <args> --config FILE`` to its end (``shell`` reads ``stdin``); no Slack tokens."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        env=_base_env(),
        cwd=REPO,
        timeout=timeout,
        check=False,
    )
