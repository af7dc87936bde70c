"""Runbooks are data: YAML files naming typed parameters, a risk level and a list of steps.

Step arguments may hold ``{param}`` placeholders. Substitution is plain replacement of
validated values — a value that is exactly one placeholder keeps its type; anything else is
text. There is no expression language and nothing ever reaches a shell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.config.yaml_source import LocatedYaml, format_loc, load_located
from bot.engine.params import ParamSpec
from bot.errors import ConfigError, ConfigProblem
from bot.steps.registry import StepRegistry

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
BUILTIN_PLACEHOLDERS = frozenset({"namespace", "cluster"})
RESERVED_PARAMS = frozenset({"cluster", "namespace", "n", "help"})
Risk = Literal["read", "change", "destructive"]


class StepCall(BaseModel):
    """One step of a runbook: a registered executor and its (templated) arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: str
    args: dict[str, Any] = Field(default_factory=dict)


class Runbook(BaseModel):
    """A validated runbook definition."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")
    summary: str = Field(min_length=1, max_length=200)
    usage: str | None = None
    risk: Risk
    aliases: list[str] = Field(default_factory=list)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    steps: list[StepCall] = Field(min_length=1)
    source: str = Field("", exclude=True)

    @field_validator("steps", mode="before")
    @classmethod
    def _steps_from_mappings(cls, value: Any) -> Any:
        """Accept ``- kubernetes.cordon: {node: "{node}"}`` as the compact step form."""
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            if isinstance(item, dict) and len(item) == 1 and "step" not in item:
                ((name, args),) = item.items()
                out.append({"step": name, "args": args if args is not None else {}})
            else:
                out.append(item)
        return out

    @field_validator("params")
    @classmethod
    def _param_names(cls, value: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name in value:
            if name in RESERVED_PARAMS:
                raise ValueError(f"parameter name {name!r} is reserved (--cluster and -n/--namespace are global)")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"parameter name {name!r} must be lowercase letters, digits and '_'")
        return value

    @model_validator(mode="after")
    def _placeholders_known(self) -> Runbook:
        known = set(self.params) | BUILTIN_PLACEHOLDERS
        for i, call in enumerate(self.steps):
            for key, raw in call.args.items():
                for ph in _placeholders(raw):
                    if ph not in known:
                        raise ValueError(f"steps[{i}] {call.step}.{key}: unknown placeholder {{{ph}}}")
        if self.usage is None:
            self.usage = render_usage(self)
        return self

    def positional(self) -> list[str]:
        """Positional parameter names in declaration order."""
        return [n for n, p in self.params.items() if p.positional]


def render_usage(rb: Runbook) -> str:
    """``drain <node> [--force] [--timeout DURATION]`` from the parameter declarations."""
    parts = [rb.name]
    for name, p in rb.params.items():
        if p.positional:
            parts.append(f"<{name}>" if p.required else f"[{name}]")
    for name, p in rb.params.items():
        if not p.positional:
            parts.append(
                f"[--{name.replace('_', '-')}]"
                if p.type == "bool"
                else f"[--{name.replace('_', '-')} {p.type.upper()}]"
            )
    return " ".join(parts)


def _placeholders(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield from PLACEHOLDER.findall(value)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _placeholders(v)
    elif isinstance(value, list):
        for v in value:
            yield from _placeholders(v)


def substitute(value: Any, values: dict[str, Any]) -> Any:
    """Replace ``{name}`` placeholders with validated values; a lone placeholder keeps its type."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    return value


def builtin_runbook_dir() -> Path:
    """The packaged runbooks: the repository's ``runbooks/`` or the installed data copy."""
    import sys

    here = Path(__file__).resolve().parents[2] / "runbooks"
    if here.is_dir():
        return here
    return Path(sys.prefix) / "share" / "k8s-runbook-bot" / "runbooks"


class RunbookCatalog:
    """Every loaded runbook by name and alias."""

    def __init__(self, runbooks: Iterable[Runbook]) -> None:
        self._by_name: dict[str, Runbook] = {}
        self._aliases: dict[str, str] = {}
        for rb in runbooks:
            self._by_name[rb.name] = rb
            for alias in rb.aliases:
                self._aliases[alias] = rb.name

    def get(self, name: str) -> Runbook | None:
        """The runbook called ``name`` (or aliased so)."""
        return self._by_name.get(self._aliases.get(name, name))

    def all(self) -> list[Runbook]:
        """Runbooks sorted by name."""
        return [self._by_name[n] for n in sorted(self._by_name)]

    def names(self) -> list[str]:
        """Runbook names, sorted."""
        return sorted(self._by_name)


def load_catalog(dirs: Iterable[Path], registry: StepRegistry) -> RunbookCatalog:
    """Load every ``*.yaml`` runbook in ``dirs`` (later folders override earlier ones by name).

    All problems across all files are collected and raised together as one ConfigError.
    """
    problems: list[ConfigProblem] = []
    loaded: dict[str, Runbook] = {}
    for folder in dirs:
        if not folder.is_dir():
            problems.append(ConfigProblem(str(folder), "runbook_dirs", "runbook folder does not exist"))
            continue
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                rb = load_runbook(path, registry)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            loaded[rb.name] = rb
    seen_alias: dict[str, str] = {}
    for rb in loaded.values():
        for alias in rb.aliases:
            clash = seen_alias.get(alias) or (alias if alias in loaded else None)
            if clash:
                problems.append(ConfigProblem(rb.source, "aliases", f"alias {alias!r} clashes with {clash!r}"))
            seen_alias[alias] = rb.name
    if problems:
        raise ConfigError(problems)
    return RunbookCatalog(loaded.values())


def load_runbook(path: Path, registry: StepRegistry) -> Runbook:
    """Parse and validate one runbook file, including its steps' argument models."""
    located = load_located(path)
    if not isinstance(located.data, dict):
        raise ConfigError([ConfigProblem(str(path), "", "a runbook must be a YAML mapping", 1)])
    try:
        rb = Runbook(**located.data, source=str(path))
    except ValidationError as exc:
        raise ConfigError(_problems(exc, located)) from None
    problems = []
    for i, call in enumerate(rb.steps):
        problems.extend(_check_step(path, located, i, call, rb, registry))
    if problems:
        raise ConfigError(problems)
    return rb


def _check_step(
    path: Path, located: LocatedYaml, i: int, call: StepCall, rb: Runbook, registry: StepRegistry
) -> list[ConfigProblem]:
    step = registry.get(call.step)
    loc: list[str | int] = ["steps", i, call.step]
    if step is None:
        near = ", ".join(n for n in registry.names() if n.split(".")[-1] in call.step) or ", ".join(registry.names())
        return [
            ConfigProblem(
                str(path),
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
                    str(path),
                    format_loc([*loc, key]),
                    f"step {call.step} has no argument {key!r} (it takes: {', '.join(fields) or 'none'})",
                    located.line_of([*loc, key]),
                )
            )
    # Literal (placeholder-free) values are validated now; templated ones at run time.
    literal = {k: v for k, v in call.args.items() if k in fields and not list(_placeholders(v))}
    templated = {k for k in call.args if k not in literal}
    try:
        step.Params.model_validate(literal)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            key = str(err["loc"][0]) if err["loc"] else ""
            if err["type"] == "missing" and (key in templated or key in call.args):
                continue
            problems.append(
                ConfigProblem(
                    str(path), format_loc([*loc, key]), f"{call.step}: {err['msg']}", located.line_of([*loc, key])
                )
            )
    return problems


def _problems(exc: ValidationError, located: LocatedYaml) -> list[ConfigProblem]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [p for p in err["loc"] if isinstance(p, str | int)]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "literal_error" and loc and loc[-1] == "type":
            msg = f"unknown parameter type; {msg}"
        out.append(ConfigProblem(str(located.path), format_loc(loc), msg, located.line_of(loc)))
    return out
