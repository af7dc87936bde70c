"""``runbook-bot shell``: the chat commands in a terminal, against the current kubeconfig.

Lines are commands as typed after ``/k8s`` (a leading ``/k8s`` is accepted too). Buttons become
prompts: a change shows its plan and asks ``Confirm? [y/N]``. Decisions on stored runs are verbs:
``confirm ID``, ``approve ID``, ``deny ID REASON``, ``cancel ID [REASON]``, ``break-glass ID REASON``.
Without ``--as`` you act as the kubeconfig's own identity; ``--as`` acts as a mapped user through
the same impersonation, authorization and approval rules as Slack.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from bot.engine.bootstrap import Bot
from bot.engine.identity import IdentityMapper
from bot.engine.workflow import Decision
from bot.errors import DeniedError, UserError
from bot.model import Requester
from bot.report import Attachment, Report
from bot.shell.render import render_text
from bot.store import RunState

PROMPT = "k8s> "
LOCAL_USER = "local"
VERBS = ("confirm", "approve", "deny", "cancel", "break-glass", "abort")


def save_attachment(attachment: Attachment, folder: Path | None = None) -> Path:
    """Write an attachment to ``folder`` (default: <tmp>/runbook-bot), readable by the owner only."""
    folder = folder or Path(tempfile.gettempdir()) / "runbook-bot"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / Path(attachment.filename).name  # never a path from elsewhere
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(attachment.content)
    return path


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


class Shell:
    """One terminal session acting as one requester."""

    def __init__(self, bot: Bot, requester: Requester, stdin: TextIO, stdout: TextIO) -> None:
        self.bot, self.me, self.stdin, self.stdout = bot, requester, stdin, stdout
        self.interactive = stdin.isatty()
        self.failures = 0

    def say(self, text: str) -> None:
        """Print and flush."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def show(self, report: Report) -> None:
        """Print a report followed by a blank line; long output (attachments) is saved to files."""
        self.say(render_text(report) + "\n")
        for attachment in report.attachments:
            self.say(f"   saved to {save_attachment(attachment)}\n")

    def ask(self, question: str) -> bool:
        """A yes/no prompt (a button); anything but y/yes is no. EOF is no."""
        self.stdout.write(f"{question} [y/N] ")
        self.stdout.flush()
        answer = self.stdin.readline()
        if not self.interactive:
            self.stdout.write(answer.strip() + "\n")
        return answer.strip().lower() in ("y", "yes")

    def run_line(self, text: str) -> None:
        """Handle one command line."""
        word, _, rest = text.partition(" ")
        if word in VERBS:
            self.decide(word, rest.strip())
            return
        outcome = self.bot.runs.request(text, self.me)
        if outcome.report is not None:
            self.show(outcome.report)
        self.failures += 0 if outcome.ok else 1
        if outcome.pending and outcome.run_id:
            self.decide("confirm", outcome.run_id, shown=True)

    def decide(self, verb: str, args: str, *, shown: bool = False) -> None:
        """Confirm, approve, deny, cancel or break glass on a stored run."""
        run_id, _, reason = args.partition(" ")
        runs = self.bot.runs
        try:
            rec = runs.store.get_run(run_id) if run_id else None
            if rec is None:
                raise UserError(f"{verb} needs the id of a stored run; `runs` lists them")
            if not shown:
                self.show(runs.report_for(run_id))
            kind = verb.replace("-", "_")
            if verb == "confirm" and not self.ask("Confirm this plan?"):
                kind, reason = "cancel", "declined at the prompt"
            elif verb == "approve" and not self.ask("Approve this plan?"):
                self.say("not approved")
                return
            elif verb == "deny":
                reason = reason or "no reason given"
            decision = runs.decide(kind, run_id, rec.plan_hash, self.me, reason)
        except UserError as exc:
            self.failures += 1
            self.say(f"[x] {exc.message}")
            return
        self.apply(decision, run_id)

    def apply(self, decision: Decision, run_id: str) -> None:
        """Show a decision's outcome; execute when it says so."""
        if decision.notice:
            self.say(f"-- {decision.notice}")
        if decision.execute:
            self.say(f"running {run_id}…")
            self.show(self.bot.runs.execute(run_id, progress=lambda msg: self.say(f"   {msg}")))
        elif decision.report is not None:
            self.show(decision.report)
            rec = self.bot.runs.store.get_run(run_id)
            if rec is not None and rec.state == RunState.AWAITING_APPROVAL:
                self.say(
                    f"Approval needed: an approver runs `approve {run_id}` (e.g. `runbook-bot shell --as <approver>`)."
                )


def run_shell(bot: Bot, requester: Requester, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Read commands until EOF or ``exit``; print each outcome. Returns the process exit code."""
    shell = Shell(bot, requester, stdin, stdout)
    command = bot.settings.slack.command
    if shell.interactive:
        shell.say(
            f"k8s-runbook-bot shell — clusters: {', '.join(bot.settings.clusters)}; "
            f"acting as {requester.describe()}. Type 'help', or 'exit'."
        )
    while True:
        if shell.interactive:
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
        shell.run_line(text)
    return 0 if shell.failures == 0 or shell.interactive else 1
