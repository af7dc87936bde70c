"""The command line: ``<runbook> [args] [--flags] [--cluster X] [-n ns]`` with shell-like quoting.

Tokenising uses ``shlex`` in POSIX mode purely as a quote-aware splitter; nothing is executed.
"""

from __future__ import annotations

import html
import shlex
from dataclasses import dataclass, field
from typing import Any

from bot.engine.params import DNS_LABEL, parse_value
from bot.engine.runbooks import Runbook
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
        tok = rest[i]
        name, eq, inline = tok.partition("=")
        if name in ("--cluster", "-c", "-n", "--namespace"):
            if eq:
                value = inline
            elif i + 1 < len(rest):
                i += 1
                value = rest[i]
            else:
                raise ParseError(f"{name} needs a value")
            if not DNS_LABEL.match(value) or len(value) > 63:
                raise ParseError(f"`{value}` is not a valid {'cluster' if 'c' in name[:3] else 'namespace'} name")
            if name in ("--cluster", "-c"):
                line.cluster = value
            else:
                line.namespace = value
        else:
            line.tokens.append(tok)
        i += 1
    return line


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
            key, eq, inline = tok[2:].partition("=")
            negated = key.startswith("no-") and key[3:] in flags and runbook.params[flags[key[3:]]].type == "bool"
            name = flags.get(key[3:] if negated else key)
            if name is None:
                known = ", ".join(f"--{f}" for f in flags) or "none"
                raise ParseError(
                    f"`{runbook.name}` has no option --{key}", hint=f"options: {known}; usage: {runbook.usage}"
                )
            spec = runbook.params[name]
            if spec.type == "bool":
                raw = inline if eq else ("false" if negated else "true")
            elif eq:
                raw = inline
            elif i + 1 < len(tokens):
                i += 1
                raw = tokens[i]
            else:
                raise ParseError(f"--{key} needs a value", hint=f"usage: {runbook.usage}")
            if name in given:
                raise ParseError(f"--{key} given twice")
            values[name] = parse_value(name, spec, raw)
            given.add(name)
        elif tok.startswith("-") and len(tok) > 1 and not tok[1:].lstrip("-").replace("/", "").isdigit():
            raise ParseError(f"unknown option `{tok}`", hint=f"usage: {runbook.usage}")
        else:
            while pos_index < len(positional) and positional[pos_index] in given:
                pos_index += 1
            if pos_index >= len(positional):
                raise ParseError(f"unexpected argument `{tok}`", hint=f"usage: {runbook.usage}")
            name = positional[pos_index]
            values[name] = parse_value(name, runbook.params[name], tok)
            given.add(name)
            pos_index += 1
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
