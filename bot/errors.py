"""The bot's error taxonomy.

BotError
 ├── UserError          the request cannot be served as asked; the message tells the user why
 │    ├── ParseError    the command line is malformed
 │    ├── NotFoundError a runbook, node, workload... does not exist (carries close matches)
 │    └── DeniedError   identity or authorization refused the request
 ├── ConfigError        configuration or runbook files are invalid (carries every problem found)
 └── ExecutionError     a step failed while running
      ├── TemporaryError  may succeed if retried later (carries a delay)
      │    └── ClusterUnreachableError   the API server cannot be reached (says where and what to check)
      ├── PermanentError  retrying will not help
      │    └── ClusterUnavailableError   no usable kubeconfig, or the bot's credentials are refused (401)
      └── AbortedError    stopped on request (says what was done)

``UserError`` messages and the two cluster errors (``EXPLAINED``) say what happened and what to do,
so they are shown as they are; anything else is unexpected and reported with a short correlation
id that also appears in the logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class UserError(BotError):
    """The request cannot be served as asked; ``str(error)`` is safe to show to the requester."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ParseError(UserError):
    """The command line could not be parsed."""


class NotFoundError(UserError):
    """A named thing does not exist; ``suggestions`` holds the closest existing names."""

    def __init__(self, kind: str, name: str, suggestions: Sequence[str] = (), *, where: str | None = None) -> None:
        place = f" {where}" if where else ""
        message = f"unknown {kind} `{name}`{place}"
        hint = None
        if suggestions:
            hint = "did you mean " + ", ".join(f"`{s}`" for s in suggestions) + "?"
        super().__init__(message, hint=hint)
        self.kind = kind
        self.name = name
        self.suggestions = list(suggestions)


class DeniedError(UserError):
    """The requester may not do this (unmapped identity, or the cluster's RBAC said no)."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration or runbook file, with its location."""

    file: str
    location: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        line = f":{self.line}" if self.line else ""
        where = f" [{self.location}]" if self.location else ""
        return f"{self.file}{line}{where}: {self.message}"


class ConfigError(BotError):
    """Configuration or runbooks are invalid; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ExecutionError(BotError):
    """A step failed while running (the step's ``StepAccount`` says what it did and did not do)."""


class TemporaryError(ExecutionError):
    """A failure that may clear if retried after ``delay`` seconds (bot/clients/retry.py honours it)."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(ExecutionError):
    """A failure that retrying will not fix."""


class ClusterUnreachableError(TemporaryError):
    """A cluster's API server cannot be reached; the message names the address, the cause and what to check."""


class ClusterUnavailableError(PermanentError):
    """A cluster cannot be used: its kubeconfig is missing or invalid, or the API server refuses the bot (401)."""


class AbortedError(ExecutionError):
    """The run was aborted on request; the message says what was and was not done."""


#: Errors whose message already says what happened and what to do: shown without a correlation id.
EXPLAINED: tuple[type[BotError], ...] = (UserError, ClusterUnreachableError, ClusterUnavailableError)
