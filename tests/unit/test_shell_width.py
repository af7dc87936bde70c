"""The shell's output fits the terminal: ``help`` at 80 and 100 columns, as a real process (COLUMNS set).

No cluster is needed (``help`` reads none): the kubeconfig is missing on purpose, which the shell
names once on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.report import Report
from bot.shell.render import render_text


def shell(cwd: Path, stdin: str, columns: int | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_BOT_", "KUBECONFIG", "COLUMNS"))}
    env["HOME"] = str(cwd)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    (cwd / "bot.yaml").write_text("clusters: {local: {kubeconfig: nokube}}\nstore: {url: 'sqlite:///bot.sqlite3'}\n")
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", "bot.yaml", "shell"],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("columns", [80, 100])
def test_help_fits_the_terminal_width(tmp_path: Path, columns: int) -> None:
    out = shell(tmp_path, "help\nhelp drain\nhelp replace-node\n", columns)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    too_wide = [line for line in lines if len(line) > columns]
    assert not too_wide, "\n".join(too_wide)
    table = " ".join(out.stdout.split())
    for usage in ("`drain <node> [--force]", "`replace-node <node> [--force]", "`whoami`", "`triage <node>`"):
        assert usage in table, usage
    assert "[--no-ignore-daemonsets]" in table  # a flag never split at its hyphens
    assert "`--no-ignore-daemonsets` (flag; ignore-daemonsets is on by default): leave DaemonSet pods" in table


def test_without_a_terminal_nothing_is_wrapped(tmp_path: Path) -> None:
    out = shell(tmp_path, "help drain\n", None)  # stdout is a pipe: lines as long as they are
    assert out.returncode == 0, out.stderr
    usage = next(line for line in out.stdout.splitlines() if "Usage:" in line)
    assert usage.endswith("[--timeout DURATION] [--grace-period INTEGER]`") and len(usage) > 100


def test_a_table_gives_way_from_its_widest_column_and_keeps_words_whole() -> None:
    report = Report(title="t")
    report.table(["Name", "Notes"], [["a", "word " * 30 + "--delete-emptydir-data"], ["bb", "short"]])
    text = render_text(report, 40)
    assert max(len(line) for line in text.splitlines()) <= 40
    assert "--delete-emptydir-data" in text  # whole, on one line
    assert "  bb    short" in text  # the narrow column keeps its width
