"""The shell's output fits the terminal: ``help`` at 80 and 100 columns, as a real process writing to a pty.

No cluster is needed (``help`` reads none): the kubeconfig is missing on purpose, which the shell
names once on stderr.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from bot.report import Report
from bot.shell.render import render_text


def shell(cwd: Path, stdin: str, columns: int | None) -> tuple[int, str]:
    """Run the shell with ``stdin``; with ``columns``, its output goes to a terminal (a pty) that wide.

    Returns the exit code and everything written to stdout.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_BOT_", "KUBECONFIG", "COLUMNS", "LINES"))}
    env["HOME"] = str(cwd)
    (cwd / "bot.yaml").write_text("clusters: {local: {kubeconfig: nokube}}\nstore: {url: 'sqlite:///bot.sqlite3'}\n")
    args = [sys.executable, "-m", "bot", "--config", "bot.yaml", "shell"]
    if columns is None:
        out = subprocess.run(args, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=120)
        return out.returncode, out.stdout
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    attrs = termios.tcgetattr(follower)
    attrs[1] &= ~termios.ONLCR  # plain "\n" line ends, as a pipe would have them
    termios.tcsetattr(follower, termios.TCSANOW, attrs)
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=follower, stderr=subprocess.DEVNULL)
    os.close(follower)
    assert proc.stdin is not None
    proc.stdin.write(stdin.encode())
    proc.stdin.close()
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=120), b"".join(chunks).decode()


@pytest.mark.parametrize("columns", [80, 100])
def test_help_fits_the_terminal_width(tmp_path: Path, columns: int) -> None:
    code, stdout = shell(tmp_path, "help\nhelp drain\nhelp replace-node\n", columns)
    assert code == 0, stdout
    lines = stdout.splitlines()
    too_wide = [line for line in lines if len(line) > columns]
    assert not too_wide, "\n".join(too_wide)
    table = " ".join(stdout.split())
    for usage in ("`drain <node> [--force]", "`replace-node <node> [--force]", "`whoami`", "`triage <node>`"):
        assert usage in table, usage
    assert "[--no-ignore-daemonsets]" in table  # a flag never split at its hyphens
    assert "`--no-ignore-daemonsets` (flag; ignore-daemonsets is on by default): leave DaemonSet pods" in table


def test_without_a_terminal_nothing_is_wrapped(tmp_path: Path) -> None:
    code, stdout = shell(tmp_path, "help drain\n", None)  # stdout is a pipe: lines as long as they are
    assert code == 0, stdout
    usage = next(line for line in stdout.splitlines() if "Usage:" in line)
    assert usage.endswith("[--timeout DURATION] [--grace-period INTEGER]`")
    assert len(usage) > 100


def test_a_table_gives_way_from_its_widest_column_and_keeps_words_whole() -> None:
    report = Report(title="t")
    report.table(["Name", "Notes"], [["a", "word " * 30 + "--delete-emptydir-data"], ["bb", "short"]])
    text = render_text(report, 40)
    assert max(len(line) for line in text.splitlines()) <= 40
    assert "--delete-emptydir-data" in text  # whole, on one line
    assert "  bb    short" in text  # the narrow column keeps its width
