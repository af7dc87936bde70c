"""Runbook composition: ``- include: drain`` inlines another runbook's steps and takes over its parameters.

Rules (the README's "Writing runbooks" tells authors the same):

- the included runbook's steps run where the ``include`` entry stands, with their arguments as
  written there; its parameters become the including runbook's, in its order, before the
  including runbook's own new parameters;
- the including runbook may declare one of them again to override it: the fields it sets
  (``default``, ``help``, ``min``…) replace the included ones, the others are kept; the ``type``
  must stay the same. An inherited help text is shown as ``<included runbook>: <help>``;
- a runbook is at least as risky as what it includes (``read`` cannot include ``destructive``);
- includes resolve by runbook name (an operator's runbook of the same name replaces the built-in
  one here too); an unknown name or a cycle is a configuration error at the include's line.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bot.config.yaml_source import LocatedYaml, format_loc
from bot.engine.params import ParamSpec
from bot.engine.runbooks import (
    BUILTIN_PLACEHOLDERS,
    RISK_ORDER,
    IncludeCall,
    Runbook,
    RunbookFile,
    StepCall,
    error_message,
    unknown_placeholders,
)
from bot.errors import ConfigProblem


@dataclass(frozen=True)
class ParsedRunbook:
    """One runbook file validated on its own, before its includes are resolved."""

    file: RunbookFile
    located: LocatedYaml

    def raw_params(self) -> dict[str, dict[str, Any]]:
        """The parameter declarations exactly as written (an override sets only some fields)."""
        declared = self.located.data.get("params") or {}
        return {name: dict(spec) for name, spec in declared.items()}

    def problem(self, loc: list[str | int], message: str) -> ConfigProblem:
        """A problem at ``loc`` of this file, with its line."""
        return ConfigProblem(str(self.located.path), format_loc(loc), message, self.located.line_of(loc))


@dataclass
class _Composed:
    """A composed runbook plus what composing a runbook that includes it needs."""

    runbook: Runbook
    raw_params: dict[str, dict[str, Any]]
    inherited_from: dict[str, str] = field(default_factory=dict)  # parameter → runbook its help came from


def compose_all(
    parsed: Mapping[str, ParsedRunbook], invalid: Collection[str] = ()
) -> tuple[dict[str, Runbook], list[ConfigProblem]]:
    """Resolve every runbook's includes; ``invalid`` names runbooks whose files had problems."""
    composer = _Composer(parsed, invalid)
    out = {}
    for name in parsed:
        composed = composer.compose(name, ())
        if composed is not None:
            out[name] = composed.runbook
    return out, composer.problems


class _Composer:
    """Composes runbooks depth-first, once each, collecting every problem."""

    def __init__(self, parsed: Mapping[str, ParsedRunbook], invalid: Collection[str]) -> None:
        self.parsed = parsed
        self.invalid = invalid
        self.done: dict[str, _Composed | None] = {}
        self.problems: list[ConfigProblem] = []

    def compose(self, name: str, stack: tuple[str, ...]) -> _Composed | None:
        """The runbook ``name`` with its includes inlined, or None (its problems are recorded)."""
        if name in self.done:
            return self.done[name]
        one = self.parsed[name]
        stack = (*stack, name)
        params: dict[str, dict[str, Any]] = {}
        inherited: dict[str, str] = {}
        steps: list[StepCall] = []
        ok = True
        for i, entry in enumerate(one.file.steps):
            if isinstance(entry, StepCall):
                steps.append(entry)
                continue
            sub = self._included(one, i, entry, stack)
            if sub is None or not self._take_params(one, i, sub, params, inherited):
                ok = False
                continue
            steps.extend(sub.runbook.steps)
        ok = self._override(one, params, inherited) and ok
        result = self._build(one, params, inherited, steps) if ok else None
        self.done[name] = result
        return result

    def _included(self, one: ParsedRunbook, i: int, entry: IncludeCall, stack: tuple[str, ...]) -> _Composed | None:
        target = entry.include
        loc: list[str | int] = ["steps", i, "include"]
        if target in stack:
            cycle = " → ".join([*stack[stack.index(target) :], target])
            self.problems.append(one.problem(loc, f"include cycle: {cycle}"))
            return None
        if target not in self.parsed:
            if target in self.invalid:
                why = f"runbook {target!r} has problems of its own (listed with its file)"
            else:
                near = difflib.get_close_matches(target, list(self.parsed), n=3) or sorted(self.parsed)
                why = f"unknown runbook {target!r} (known: {', '.join(near)})"
            self.problems.append(one.problem(loc, f"cannot include: {why}"))
            return None
        sub = self.compose(target, stack)
        if sub is None:
            self.problems.append(one.problem(loc, f"cannot include {target!r}: it has problems (listed too)"))
            return None
        if RISK_ORDER[one.file.risk] < RISK_ORDER[sub.runbook.risk]:
            self.problems.append(
                one.problem(
                    ["risk"],
                    f"risk {one.file.risk!r} is lower than that of the included runbook {target!r} "
                    f"({sub.runbook.risk}); a runbook is at least as risky as what it includes",
                )
            )
            return None
        return sub

    def _take_params(
        self,
        one: ParsedRunbook,
        i: int,
        sub: _Composed,
        params: dict[str, dict[str, Any]],
        inherited: dict[str, str],
    ) -> bool:
        ok = True
        for name, raw in sub.raw_params.items():
            if name not in params:
                params[name] = dict(raw)
                inherited[name] = sub.inherited_from.get(name, sub.runbook.name)
            elif params[name]["type"] != raw["type"]:
                ok = False
                self.problems.append(
                    one.problem(
                        ["steps", i, "include"],
                        f"parameter {name!r} of {sub.runbook.name!r} is a {raw['type']}, but an earlier "
                        f"include made it a {params[name]['type']}",
                    )
                )
        return ok

    def _override(self, one: ParsedRunbook, params: dict[str, dict[str, Any]], inherited: dict[str, str]) -> bool:
        ok = True
        for name, raw in one.raw_params().items():
            if name not in params:
                params[name] = raw
                continue
            if raw["type"] != params[name]["type"]:
                ok = False
                self.problems.append(
                    one.problem(
                        ["params", name, "type"],
                        f"parameter {name!r} comes from the included runbook {inherited[name]!r} as a "
                        f"{params[name]['type']}; an override must keep its type (not {raw['type']})",
                    )
                )
                continue
            params[name] = {**params[name], **raw}
            if "help" in raw:
                inherited.pop(name, None)
        return ok

    def _build(
        self,
        one: ParsedRunbook,
        raw_params: dict[str, dict[str, Any]],
        inherited: dict[str, str],
        steps: list[StepCall],
    ) -> _Composed | None:
        specs: dict[str, ParamSpec] = {}
        ok = True
        for name, raw in raw_params.items():
            try:
                spec = ParamSpec.model_validate(raw)
            except ValidationError as exc:
                ok = False
                msg = error_message(exc.errors(include_url=False, include_input=False)[0])
                self.problems.append(one.problem(["params", name], f"override of {name!r}: {msg}"))
                continue
            if name in inherited and spec.help:
                spec = spec.model_copy(update={"help": f"{inherited[name]}: {spec.help}"})
            specs[name] = spec
        for i, entry in enumerate(one.file.steps):
            if isinstance(entry, StepCall):
                for key, ph in unknown_placeholders(entry, specs):
                    ok = False
                    known = ", ".join([*specs, *sorted(BUILTIN_PLACEHOLDERS)])
                    self.problems.append(
                        one.problem(
                            ["steps", i, entry.step, key],
                            f"{entry.step}.{key}: unknown placeholder {{{ph}}} (parameters: {known})",
                        )
                    )
        if not ok:
            return None
        header = one.file.model_dump(include={"name", "summary", "usage", "risk", "aliases"})
        runbook = Runbook(**header, params=specs, steps=steps, source=str(one.located.path))
        return _Composed(runbook, raw_params, inherited)
