"""``--config FILE`` before or after every sub-command, each run as a real process.

The config names a cluster ``alpha`` and Socket Mode, so each answer proves the file was read:
``help`` lists ``clusters: alpha``, ``check-config`` counts it, ``serve`` asks for Socket Mode's app
token and alpha's kubeconfig, ``backup list`` looks for alpha's backups. No cluster is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = """\
clusters:
  alpha: {kubeconfig: nokube}
store: {url: "sqlite:///bot.sqlite3"}
slack: {mode: socket}
"""


def bot(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_BOT_", "KUBECONFIG"))}
    env["HOME"] = str(cwd)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "alpha.yaml").write_text(CONFIG)
    return tmp_path


def positions(*words: str) -> list[list[str]]:
    """``--config alpha.yaml`` first, after the first word, and last (the same when there is one word)."""
    flag = ["--config", "alpha.yaml"]
    found = [flag + list(words), [words[0], *flag, *words[1:]], [*words, *flag]]
    return [list(p) for p in dict.fromkeys(tuple(p) for p in found)]


def answers(workdir: Path, *words: str, stdin: str = "") -> list[subprocess.CompletedProcess[str]]:
    outs = [bot(workdir, *args, stdin=stdin) for args in positions(*words)]
    for out in outs:
        assert "Traceback" not in out.stderr, out.stderr
        assert "unrecognized arguments" not in out.stderr, out.stderr
    return outs


@pytest.mark.parametrize("command", ["shell", "run"])
def test_shell_and_run_read_the_file_in_either_position(workdir: Path, command: str) -> None:
    for out in answers(workdir, command, stdin="help\n"):
        assert out.returncode == 0, out.stderr
        assert "-- clusters: alpha" in out.stdout


def test_check_config_reads_the_file_in_either_position(workdir: Path) -> None:
    for out in answers(workdir, "check-config"):
        assert out.returncode == 0, out.stderr
        assert "configuration OK: 1 cluster(s) (alpha)" in out.stdout


def test_serve_reads_the_file_in_either_position(workdir: Path) -> None:
    for out in answers(workdir, "serve"):
        assert out.returncode == 2
        assert "cannot serve: Slack socket mode needs slack.app_token" in out.stderr
        assert f"cannot serve: cluster alpha: no kubeconfig at {workdir / 'nokube'}" in out.stderr
    assert not (workdir / "bot.sqlite3").exists(), "serve refused before opening the store"


def test_backup_reads_the_file_in_every_position(workdir: Path) -> None:
    outs = answers(workdir, "backup", "list")
    assert len(outs) == 3
    for out in outs:
        assert out.returncode == 1
        assert "cluster alpha has no backup configuration (backup.clusters.alpha)" in out.stderr


def test_steps_and_schema_accept_it_in_either_position(workdir: Path) -> None:
    for out in answers(workdir, "steps", "--json"):
        assert out.returncode == 0, out.stderr
        assert any(step["name"] == "kubernetes.cordon" for step in json.loads(out.stdout)["steps"])
    for out in answers(workdir, "schema"):
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["title"] == "k8s-runbook-bot runbook"


def test_given_twice_the_one_after_the_sub_command_wins(workdir: Path) -> None:
    (workdir / "beta.yaml").write_text(CONFIG.replace("alpha", "beta"))
    out = bot(workdir, "--config", "alpha.yaml", "check-config", "--config", "beta.yaml")
    assert out.returncode == 0
    assert "(beta)" in out.stdout
