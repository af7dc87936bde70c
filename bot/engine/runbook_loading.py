"""Loading runbook files into a catalog; every problem names its file, line and field.

Each file is validated on its own first (fields, parameter types, step names, literal step
arguments against the step's parameter model); then includes are resolved across the files
(``bot.engine.runbook_includes``). All problems of all files are raised together.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from bot.config.yaml_source import LocatedYaml, format_loc, load_located
from bot.engine.runbook_includes import ParsedRunbook, compose_all
from bot.engine.runbooks import (
    INCLUDE_KEY,
    Runbook,
    RunbookCatalog,
    RunbookFile,
    StepCall,
    error_message,
    placeholders,
)
from bot.errors import ConfigError, ConfigProblem
from bot.steps.registry import StepRegistry

# The tags of the step-entry union appear in pydantic's error locations: steps.0.<tag>.field.
_ENTRY_TAGS = frozenset({"step", INCLUDE_KEY})


class InvalidRunbookFile(ConfigError):
    """A runbook file with problems; ``runbook`` is the name it declares (if it could be read)."""

    def __init__(self, problems: list[ConfigProblem], runbook: str | None) -> None:
        super().__init__(problems)
        self.runbook = runbook


def load_catalog(dirs: Iterable[Path], registry: StepRegistry) -> RunbookCatalog:
    """Load every ``*.yaml`` runbook in ``dirs`` (later folders override earlier ones by name).

    All problems across all files are collected and raised together as one ConfigError.
    """
    problems: list[ConfigProblem] = []
    parsed: dict[str, ParsedRunbook] = {}
    invalid: set[str] = set()
    for folder in dirs:
        if not folder.is_dir():
            problems.append(ConfigProblem(str(folder), "runbook_dirs", "runbook folder does not exist"))
            continue
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                one = parse_runbook(path, registry)
            except InvalidRunbookFile as exc:
                problems.extend(exc.problems)
                if exc.runbook:
                    invalid.add(exc.runbook)
                continue
            parsed[one.file.name] = one
            invalid.discard(one.file.name)
    loaded, composition_problems = compose_all(parsed, invalid)
    problems += composition_problems
    problems += _alias_clashes(loaded)
    if problems:
        raise ConfigError(problems)
    return RunbookCatalog(loaded.values())


def load_runbook(path: Path, registry: StepRegistry) -> Runbook:
    """Parse and validate one runbook file on its own (including another runbook needs ``load_catalog``)."""
    one = parse_runbook(path, registry)
    loaded, problems = compose_all({one.file.name: one})
    if problems:
        raise ConfigError(problems)
    return loaded[one.file.name]


def parse_runbook(path: Path, registry: StepRegistry) -> ParsedRunbook:
    """Validate one file as written: its fields, and each step call against that step's model."""
    located = load_located(path)
    if not isinstance(located.data, dict):
        raise InvalidRunbookFile([ConfigProblem(str(path), "", "a runbook must be a YAML mapping", 1)], None)
    declared = located.data.get("name")
    name = declared if isinstance(declared, str) else None
    try:
        file = RunbookFile.model_validate(located.data)
    except ValidationError as exc:
        raise InvalidRunbookFile(_problems(exc, located), name) from None
    problems = []
    for i, entry in enumerate(file.steps):
        if isinstance(entry, StepCall):
            problems.extend(_check_step(located, i, entry, registry))
    if problems:
        raise InvalidRunbookFile(problems, name)
    return ParsedRunbook(file, located)


def _alias_clashes(loaded: dict[str, Runbook]) -> list[ConfigProblem]:
    problems = []
    seen_alias: dict[str, str] = {}
    for rb in loaded.values():
        for alias in rb.aliases:
            clash = seen_alias.get(alias) or (alias if alias in loaded else None)
            if clash:
                problems.append(ConfigProblem(rb.source, "aliases", f"alias {alias!r} clashes with {clash!r}"))
            seen_alias[alias] = rb.name
    return problems


def _check_step(located: LocatedYaml, i: int, call: StepCall, registry: StepRegistry) -> list[ConfigProblem]:
    path = str(located.path)
    step = registry.get(call.step)
    loc: list[str | int] = ["steps", i, call.step]
    if step is None:
        near = ", ".join(n for n in registry.names() if n.split(".")[-1] in call.step) or ", ".join(registry.names())
        return [
            ConfigProblem(
                path,
                format_loc(["steps", i]),
                f"unknown step {call.step!r} (known: {near})",
                located.line_of(["steps", i]),
            )
        ]
    problems = []
    fields = step.Params.model_fields
    for key in call.args:
        if key not in fields:
            problems.append(
                ConfigProblem(
                    path,
                    format_loc([*loc, key]),
                    f"step {call.step} has no argument {key!r} (it takes: {', '.join(fields) or 'none'})",
                    located.line_of([*loc, key]),
                )
            )
    # Literal (placeholder-free) values are validated now; templated ones at run time.
    literal = {k: v for k, v in call.args.items() if k in fields and not list(placeholders(v))}
    try:
        step.Params.model_validate(literal)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            key = str(err["loc"][0]) if err["loc"] else ""
            if err["type"] == "missing" and key in call.args:
                continue  # given as a placeholder: checked when the run is planned
            problems.append(
                ConfigProblem(
                    path, format_loc([*loc, key]), f"{call.step}: {error_message(err)}", located.line_of([*loc, key])
                )
            )
    return problems


def _problems(exc: ValidationError, located: LocatedYaml) -> list[ConfigProblem]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [p for p in err["loc"] if isinstance(p, str | int)]
        if len(loc) > 2 and loc[0] == "steps" and loc[2] in _ENTRY_TAGS:
            del loc[2]
        msg = error_message(err)
        if err["type"] == "literal_error" and loc and loc[-1] == "type":
            msg = f"unknown parameter type; {msg}"
        out.append(ConfigProblem(str(located.path), format_loc(loc), msg, located.line_of(loc)))
    return out
