"""Runbooks are data: YAML files naming typed parameters, a risk level and a list of steps.

Step arguments may hold ``{param}`` placeholders. Substitution is plain replacement of
validated values — a value that is exactly one placeholder keeps its type; anything else is
text. There is no expression language and nothing ever reaches a shell.

A file may ``- include: <runbook>`` another runbook: its steps are inlined there and its
parameters become the including runbook's (``RunbookFile`` is the file as written, ``Runbook``
the composed result the engine runs; see ``bot.engine.runbook_includes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import ErrorDetails

from bot.engine.params import ParamSpec

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
BUILTIN_PLACEHOLDERS = frozenset({"namespace", "cluster"})
RESERVED_PARAMS = frozenset({"cluster", "namespace", "n", "help"})
RUNBOOK_NAME = r"^[a-z][a-z0-9-]{0,40}$"
INCLUDE_KEY = "include"
Risk = Literal["read", "change", "destructive"]
RISK_ORDER: dict[str, int] = {"read": 0, "change": 1, "destructive": 2}


class StepCall(BaseModel):
    """One step of a runbook: a registered executor and its (templated) arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: str = Field(description="a registered step (`runbook-bot steps` lists them)")
    args: dict[str, Any] = Field(default_factory=dict, description="the step's arguments; `{param}` placeholders")


class IncludeCall(BaseModel):
    """``- include: drain``: that runbook's steps run here, and its parameters become this runbook's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include: str = Field(pattern=RUNBOOK_NAME, description="the runbook whose steps are inlined here")


def _entry_kind(value: Any) -> str:
    """Tell an include entry from a step call (the discriminator of ``RunbookFile.steps``)."""
    if isinstance(value, IncludeCall) or (isinstance(value, dict) and INCLUDE_KEY in value):
        return INCLUDE_KEY
    return "step"


StepEntry = Annotated[
    Annotated[StepCall, Tag("step")] | Annotated[IncludeCall, Tag(INCLUDE_KEY)], Discriminator(_entry_kind)
]


def _compact_steps(value: Any) -> Any:
    """``- kubernetes.cordon: {node: "{node}"}`` → ``{step, args}``; ``- include: x`` stays as is."""
    if not isinstance(value, list):
        return value
    out = []
    for item in value:
        if isinstance(item, dict) and len(item) == 1 and "step" not in item and INCLUDE_KEY not in item:
            ((name, args),) = item.items()
            out.append({"step": name, "args": args if args is not None else {}})
        else:
            out.append(item)
    return out


class RunbookHeader(BaseModel):
    """What every runbook declares besides its steps: name, summary, risk, parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=RUNBOOK_NAME, description="the command users type (`/k8s <name>`)")
    summary: str = Field(min_length=1, max_length=200, description="one line for `help`")
    usage: str | None = Field(None, description="usage line for `help` (default: generated from params)")
    risk: Risk = Field(description="read runs at once; change asks to confirm; destructive may need approval")
    aliases: list[str] = Field(default_factory=list, description="other names for the command")
    params: dict[str, ParamSpec] = Field(
        default_factory=dict,
        description="typed parameters (without a default: positional; others: --flags); "
        "a parameter of an included runbook declared again overrides the fields it sets",
    )

    @field_validator("steps", mode="before", check_fields=False)  # the subclasses declare ``steps``
    @classmethod
    def _steps_from_mappings(cls, value: Any) -> Any:
        """Accept ``- kubernetes.cordon: {node: "{node}"}`` as the compact step form."""
        return _compact_steps(value)

    @field_validator("params")
    @classmethod
    def _param_names(cls, value: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name in value:
            if name in RESERVED_PARAMS:
                raise ValueError(f"parameter name {name!r} is reserved (--cluster and -n/--namespace are global)")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"parameter name {name!r} must be lowercase letters, digits and '_'")
        return value


class RunbookFile(RunbookHeader):
    """A runbook file as written: its steps are step calls and ``include`` entries."""

    steps: list[StepEntry] = Field(min_length=1, description="step calls and `- include: <runbook>` entries")


class Runbook(RunbookHeader):
    """A validated runbook with its includes resolved: what the engine plans and runs."""

    steps: list[StepCall] = Field(min_length=1)
    source: str = Field("", exclude=True)

    @model_validator(mode="after")
    def _placeholders_known(self) -> Runbook:
        for i, call in enumerate(self.steps):
            for key, ph in unknown_placeholders(call, self.params):
                raise ValueError(f"steps[{i}] {call.step}.{key}: unknown placeholder {{{ph}}}")
        if self.usage is None:
            self.usage = render_usage(self)
        return self

    def positional(self) -> list[str]:
        """Positional parameter names in declaration order."""
        return [n for n, p in self.params.items() if p.positional]


def error_message(err: ErrorDetails) -> str:
    """A pydantic error as an author should read it (no "Value error, " prefix)."""
    if err["type"] == "extra_forbidden":
        return "unknown field (check the spelling)"
    return err["msg"].removeprefix("Value error, ")


def unknown_placeholders(call: StepCall, params: Iterable[str]) -> list[tuple[str, str]]:
    """``(argument, placeholder)`` for every placeholder in ``call`` that names no parameter."""
    known = set(params) | BUILTIN_PLACEHOLDERS
    return [(key, ph) for key, raw in call.args.items() for ph in placeholders(raw) if ph not in known]


def on_by_default(spec: ParamSpec) -> bool:
    """A flag that is on unless turned off: users type its ``--no-`` form."""
    return spec.type == "bool" and str(spec.default).lower() in ("true", "yes", "on", "1")


def param_form(name: str, spec: ParamSpec) -> str:
    """How a user types a parameter: ``<node>``, ``[runbook]``, ``--force``, ``--no-ignore-daemonsets``,
    ``--timeout DURATION``."""
    if spec.positional:
        return f"<{name}>" if spec.required else f"[{name}]"
    flag = name.replace("_", "-")
    if spec.type == "bool":
        return f"--no-{flag}" if on_by_default(spec) else f"--{flag}"
    return f"--{flag} {spec.type.upper()}"


def param_help(name: str, spec: ParamSpec) -> str:
    """One parameter for ``help <runbook>``, as it is typed: ``--timeout DURATION`` (duration, default 10m): …"""
    if spec.type == "bool":
        what = f"flag; {name.replace('_', '-')} is on by default" if on_by_default(spec) else "flag"
    else:
        if spec.default is not None:
            what = f"{spec.type}, default {spec.default}"
        else:
            what = spec.type + ("" if spec.required else ", optional")
    return f"`{param_form(name, spec)}` ({what})" + (f": {spec.help}" if spec.help else "")


def render_usage(rb: Runbook) -> str:
    """``drain <node> [--force] [--no-ignore-daemonsets] [--timeout DURATION]`` from the parameter declarations."""
    parts = [rb.name]
    parts += [param_form(name, p) for name, p in rb.params.items() if p.positional]
    parts += [f"[{param_form(name, p)}]" for name, p in rb.params.items() if not p.positional]
    return " ".join(parts)


def placeholders(value: Any) -> Iterable[str]:
    """Every ``{name}`` placeholder in a (nested) argument value."""
    if isinstance(value, str):
        yield from PLACEHOLDER.findall(value)
    elif isinstance(value, dict):
        for v in value.values():
            yield from placeholders(v)
    elif isinstance(value, list):
        for v in value:
            yield from placeholders(v)


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
