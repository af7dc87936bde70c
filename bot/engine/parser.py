"""The command line: ``<runbook> [args] [--flags] [--cluster X] [-n ns]`` with shell-like quoting.

Tokenising uses ``shlex`` in POSIX mode purely as a quote-aware splitter; nothing is executed.
"""

from __future__ import annotations

import html
import shlex
from dataclasses import dataclass, field
from typing import Any

from bot.engine.params import DNS_LABEL, parse_value
from bot.engine.runbooks import Runbook, param_form
from bot.errors import ParseError

MAX_COMMAND_LENGTH = 2000
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


@dataclass
class CommandLine:
    """A tokenised command before it is bound to a runbook's parameters."""

    runbook: str
    tokens: list[str]
    cluster: str | None = None
    namespace: str | None = None
    raw: str = ""


@dataclass
class Invocation:
    """A command bound to a runbook: parsed (typed, not yet resolved) parameter values."""

    runbook: Runbook
    values: dict[str, Any]
    cluster: str | None
    namespace: str | None
    raw: str
    given: set[str] = field(default_factory=set)


def tokenize(text: str) -> CommandLine:
    """Split the text after ``/k8s`` and pull out the global ``--cluster`` and ``-n`` options."""
    if len(text) > MAX_COMMAND_LENGTH:
        raise ParseError(f"the command is {len(text)} characters long; the limit is {MAX_COMMAND_LENGTH}")
    if any(ord(c) < 32 and c not in "\t\n" for c in text):
        raise ParseError("the command contains control characters")
    # Slack escapes &, < and > in slash-command text and may send typographic quotes.
    cleaned = html.unescape(text).translate(_SMART_QUOTES).strip()
    try:
        tokens = shlex.split(cleaned, comments=False, posix=True)
    except ValueError as exc:
        raise ParseError(f"cannot read the command: {exc}", hint="check the quotes") from None
    if not tokens:
        return CommandLine(runbook="help", tokens=[], raw=cleaned)
    line = CommandLine(runbook=tokens[0].lower(), tokens=[], raw=cleaned)
    rest = tokens[1:]
    i = 0
    while i < len(rest):
        name, eq, inline = rest[i].partition("=")
        if name not in GLOBAL_OPTIONS:
            line.tokens.append(rest[i])
        elif eq:
            _set_global(line, name, inline)
        elif i + 1 < len(rest):
            i += 1
            _set_global(line, name, rest[i])
        else:
            raise ParseError(f"{name} needs a value")
        i += 1
    return line


GLOBAL_OPTIONS = ("--cluster", "-c", "-n", "--namespace")


def _set_global(line: CommandLine, option: str, value: str) -> None:
    """``--cluster``/``-c`` and ``-n``/``--namespace``: DNS labels."""
    cluster = option in ("--cluster", "-c")
    if len(value) > 63 or not DNS_LABEL.fullmatch(value):
        raise ParseError(f"`{value[:80]}` is not a valid {'cluster' if cluster else 'namespace'} name")
    if cluster:
        line.cluster = value
    else:
        line.namespace = value


def bind(line: CommandLine, runbook: Runbook) -> Invocation:
    """Match the tokens to the runbook's parameters; every value is type-checked here."""
    values: dict[str, Any] = {}
    given: set[str] = set()
    positional = runbook.positional()
    flags = {name.replace("_", "-"): name for name, p in runbook.params.items()}
    pos_index = 0
    tokens = line.tokens
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and len(tok) > 2:
            name, raw, i = _flag(runbook, flags, tokens, i)
            if name in given:
                raise ParseError(f"--{name.replace('_', '-')} given twice")
        elif tok.startswith("-") and len(tok) > 1 and not tok[1:].lstrip("-").replace("/", "").isdigit():
            raise ParseError(f"unknown option `{tok[:60]}`", hint=f"usage: {runbook.usage}")
        else:
            while pos_index < len(positional) and positional[pos_index] in given:
                pos_index += 1
            if pos_index >= len(positional):
                raise ParseError(f"unexpected argument `{tok[:60]}`", hint=f"usage: {runbook.usage}")
            name, raw = positional[pos_index], tok
            pos_index += 1
        values[name] = parse_value(name, runbook.params[name], raw)
        given.add(name)
        i += 1
    for name, spec in runbook.params.items():
        if name in values:
            continue
        if spec.required:
            raise ParseError(f"`{runbook.name}` needs <{name}>", hint=f"usage: {runbook.usage}")
        values[name] = parse_value(name, spec, str(spec.default)) if spec.default is not None else None
    return Invocation(
        runbook=runbook, values=values, cluster=line.cluster, namespace=line.namespace, raw=line.raw, given=given
    )


def _flag(runbook: Runbook, flags: dict[str, str], tokens: list[str], i: int) -> tuple[str, str, int]:
    """The parameter a ``--flag`` token names, its raw value, and the index of the last token it used."""
    key, eq, inline = tokens[i][2:].partition("=")
    negated = key.startswith("no-") and key[3:] in flags and runbook.params[flags[key[3:]]].type == "bool"
    name = flags.get(key[3:] if negated else key)
    if name is None:
        known = ", ".join(param_form(n, runbook.params[n]) for n in flags.values() if not runbook.params[n].positional)
        known = known or "none"
        raise ParseError(
            f"`{runbook.name}` has no option --{key[:40]}", hint=f"options: {known}; usage: {runbook.usage}"
        )
    if runbook.params[name].type == "bool":
        return name, inline if eq else ("false" if negated else "true"), i
    if eq:
        return name, inline, i
    if i + 1 < len(tokens):
        return name, tokens[i + 1], i + 1
    raise ParseError(f"--{key} needs a value", hint=f"usage: {runbook.usage}")
