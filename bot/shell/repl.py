"""``runbook-bot shell``: the chat commands in a terminal, against the current kubeconfig.

Lines are commands as typed after ``/k8s`` (a leading ``/k8s`` is accepted too). Without
``--as`` you act as the kubeconfig's own identity; ``--as`` acts as a mapped user, through the
same impersonation and authorization the Slack surface uses.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.engine.bootstrap import Bot
from bot.engine.identity import IdentityMapper
from bot.engine.service import handle_command
from bot.errors import DeniedError
from bot.model import Requester
from bot.shell.render import render_text

PROMPT = "k8s> "
LOCAL_USER = "local"


def requester_for(bot: Bot, as_user: str | None) -> Requester:
    """The local identity, or the mapped user named by Slack ID or Kubernetes user name."""
    if as_user is None:
        return Requester(chat_id=LOCAL_USER, display_name="you (local shell)", kube_user=None)
    users = bot.settings.identity.users
    chat_id = as_user if as_user in users else next((k for k, v in users.items() if v.user == as_user), None)
    if chat_id is None:
        known = ", ".join(sorted({*users, *(v.user for v in users.values())})) or "none configured"
        raise DeniedError(f"--as {as_user}: no such mapped user (known: {known})")
    return IdentityMapper(bot.settings.identity).requester(chat_id)


def run_shell(bot: Bot, requester: Requester, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Read commands until EOF or ``exit``; print each outcome. Returns the process exit code."""
    interactive = stdin.isatty()
    command = bot.settings.slack.command
    if interactive:
        stdout.write(
            f"k8s-runbook-bot shell — clusters: {', '.join(bot.settings.clusters)}; "
            f"acting as {requester.describe()}. Type 'help', or 'exit'.\n"
        )
    failures = 0
    while True:
        if interactive:
            stdout.write(PROMPT)
            stdout.flush()
        line = stdin.readline()
        if not line:
            break
        text = line.strip()
        if text.startswith(command + " ") or text == command:
            text = text[len(command) :].strip()
        if not text or text.startswith("#"):
            continue
        if text in ("exit", "quit"):
            break
        outcome = handle_command(bot.engine, text, requester, None)
        failures += 0 if outcome.ok else 1
        stdout.write(render_text(outcome.report) + "\n\n")
        stdout.flush()
    return 0 if failures == 0 or interactive else 1
