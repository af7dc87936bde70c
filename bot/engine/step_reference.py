"""The runbook author's reference: every registered step, its parameters and the permissions it plans.

Everything comes from the steps themselves — the pydantic ``Params`` model (names, types,
defaults, descriptions), ``static_permissions`` and ``permissions_note`` — so the reference
cannot drift from the code. ``runbook-bot steps`` prints it as text (for a 100-column
terminal) or as JSON.
"""

from __future__ import annotations

import textwrap
import types
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bot.durations import format_duration
from bot.model import Permission
from bot.steps.base import Step
from bot.steps.registry import StepRegistry

WIDTH = 100
TYPE_LABELS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number", timedelta: "duration"}
_UNIONS = (Union, types.UnionType)


@dataclass(frozen=True)
class ParamReference:
    """One step parameter as an author writes it: ``node: "{node}"``."""

    name: str
    type: str
    required: bool
    default: Any  # JSON-ready (durations as 10m); None when required or when the default is none
    description: str
    constraints: dict[str, Any]


@dataclass(frozen=True)
class StepReference:
    """One registered step: what it does, what it takes, which Kubernetes permissions it plans."""

    name: str
    summary: str
    description: str
    params: tuple[ParamReference, ...]
    permissions: tuple[Permission, ...]
    permissions_note: str

    @property
    def permissions_depend_on_target(self) -> bool:
        """True when the plan asks more or narrower permissions once it knows its target."""
        return bool(self.permissions_note)


def step_reference(registry: StepRegistry) -> list[StepReference]:
    """Every registered step, sorted by name."""
    out = []
    for name in registry.names():
        step = registry.get(name)
        assert step is not None
        params: type[BaseModel] = step.Params
        doc = (step.__doc__ or "").strip().splitlines()
        out.append(
            StepReference(
                name=step.name,
                summary=step.summary,
                description=doc[0] if doc else "",
                params=tuple(_param(n, f) for n, f in params.model_fields.items()),
                permissions=tuple(dict.fromkeys(_static_permissions(step))),
                permissions_note=step.permissions_note,
            )
        )
    return out


def _static_permissions(step: Step[Any]) -> list[Permission]:
    """The step's static permissions, with its required arguments shown as ``<name>``."""
    params: type[BaseModel] = step.Params
    names: dict[str, Any] = {n: f"<{n}>" for n, f in params.model_fields.items() if f.is_required()}
    sample = params.model_construct(**names)
    try:
        return step.static_permissions(sample)
    except (AttributeError, TypeError, ValueError):
        # A step whose static_permissions computes on its arguments (not only names them) cannot
        # take "<node>"-style samples; its target-free view is still exact.
        return step.static_permissions(None)


def _param(name: str, info: FieldInfo) -> ParamReference:
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    return ParamReference(
        name=name,
        type=type_label(info.annotation),
        required=required,
        default=_json_value(default),
        description=info.description or "",
        constraints=_constraints(info),
    )


def type_label(annotation: Any) -> str:
    """``string``, ``integer``, ``duration``… for a field's annotation (``X | None`` is ``X``)."""
    if get_origin(annotation) in _UNIONS:
        labels = [type_label(a) for a in get_args(annotation) if a is not type(None)]
        return " | ".join(labels)
    if get_origin(annotation) in (list, tuple, set):
        (item, *_) = get_args(annotation) or (Any,)
        return f"list of {type_label(item)}"
    return TYPE_LABELS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _constraints(info: FieldInfo) -> dict[str, Any]:
    names = {
        annotated_types.Ge: ("minimum", "ge"),
        annotated_types.Gt: ("exclusive_minimum", "gt"),
        annotated_types.Le: ("maximum", "le"),
        annotated_types.Lt: ("exclusive_maximum", "lt"),
    }
    out = {}
    for item in info.metadata:
        if type(item) in names:
            key, attr = names[type(item)]
            out[key] = _json_value(getattr(item, attr))
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    return value


def reference_json(refs: list[StepReference]) -> dict[str, Any]:
    """The reference as one JSON document (``runbook-bot steps --json``)."""
    return {
        "steps": [
            {
                "name": r.name,
                "summary": r.summary,
                "description": r.description,
                "parameters": [
                    {
                        "name": p.name,
                        "type": p.type,
                        "required": p.required,
                        "default": p.default,
                        "description": p.description,
                        **({"constraints": p.constraints} if p.constraints else {}),
                    }
                    for p in r.params
                ],
                "permissions": [{**perm.model_dump(), "text": perm.describe()} for perm in r.permissions],
                "permissions_depend_on_target": r.permissions_depend_on_target,
                "permissions_note": r.permissions_note,
            }
            for r in refs
        ]
    }


def render_text(refs: list[StepReference], width: int = WIDTH) -> str:
    """The reference as plain text no wider than ``width`` columns."""
    name_w = max([len("parameter"), *(len(p.name) for r in refs for p in r.params)])
    type_w = max([len("type"), *(len(_type_text(p)) for r in refs for p in r.params)])
    default_w = max([len("default"), *(len(_default_text(p)) for r in refs for p in r.params)])
    lines = _wrap(
        "Steps a runbook calls as `- <step>: {parameters}`; a parameter may also be a text with "
        "{placeholders} of the runbook's own parameters (plus {namespace} and {cluster}).",
        width,
        "",
        "",
    )
    for r in refs:
        lines += ["", *_wrap(f"{r.name} — {r.summary}", width, "", "    ")]
        if r.description:
            lines += _wrap(r.description, width, "  ", "  ")
        if r.params:
            lead = f"  {{:<{name_w}}}  {{:<{type_w}}}  {{:<{default_w}}}  "
            lines.append(lead.format("parameter", "type", "default") + "description")
            for p in r.params:
                head = lead.format(p.name, _type_text(p), _default_text(p))
                text = textwrap.wrap(p.description, max(20, width - len(head)), break_on_hyphens=False) or [""]
                lines += [(head if i == 0 else " " * len(head)) + part for i, part in enumerate(text)]
        else:
            lines.append("  parameters: none")
        perms = "; ".join(perm.describe().replace("`", "") for perm in r.permissions) or "none"
        lines += _wrap(f"permissions: {perms}", width, "  ", "    ")
        if r.permissions_note:
            lines += _wrap(f"depends on the target: {r.permissions_note}", width, "  ", "    ")
    return "\n".join(lines) + "\n"


def _type_text(p: ParamReference) -> str:
    c = p.constraints
    low = c.get("minimum", c.get("exclusive_minimum"))
    high = c.get("maximum", c.get("exclusive_maximum"))
    if low is None and high is None:
        return p.type
    left = "(" if "exclusive_minimum" in c else "["
    right = ")" if "exclusive_maximum" in c else "]"
    return f"{p.type} {left}{'' if low is None else low}, {'' if high is None else high}{right}"


def _default_text(p: ParamReference) -> str:
    if p.required:
        return "required"
    if p.default is None:
        return "none"
    if isinstance(p.default, bool):
        return str(p.default).lower()
    return str(p.default)


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False) or [
        first.rstrip()
    ]
