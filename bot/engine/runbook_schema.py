"""A JSON Schema (draft 2020-12) for runbook YAML, generated from the runbook and step models.

``runbook-bot schema > runbook.schema.json``; editors that speak the YAML language server pick it
up from a first line ``# yaml-language-server: $schema=<path or URL>``. The top level comes from
``RunbookFile``, the parameter declarations from ``ParamSpec``, and each step call
``- <step>: {args}`` from that step's ``Params`` model — where any argument may instead be a text
holding ``{placeholder}``s (filled in with validated parameter values when the run is planned).

What a schema cannot say is left to ``runbook-bot check-config``: placeholders naming declared
parameters, includes naming existing runbooks without cycles, overrides keeping their type.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from bot.durations import format_duration
from bot.engine.runbooks import INCLUDE_KEY, PLACEHOLDER, RESERVED_PARAMS, IncludeCall, RunbookFile, StepCall
from bot.steps.arguments import DURATION_PATTERN
from bot.steps.base import Step
from bot.steps.registry import StepRegistry

DIALECT = "https://json-schema.org/draft/2020-12/schema"
TEMPLATED = "templated"
PARAM_NAME = r"^[a-z][a-z0-9_]*$"
# What a parameter's default must look like, by parameter type (ParamSpec checks the same).
DEFAULT_BY_TYPE: dict[str, dict[str, Any]] = {
    "bool": {"type": "boolean"},
    "integer": {"type": "integer"},
    "duration": {"type": "string", "pattern": DURATION_PATTERN},
}


def runbook_schema(registry: StepRegistry) -> dict[str, Any]:
    """The whole schema: a runbook file whose step calls are checked against ``registry``'s steps."""
    schema = RunbookFile.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs")
    _drop_titles(schema)
    schema["properties"]["params"] = {
        "description": schema["properties"]["params"]["description"],
        "type": "object",
        "propertyNames": {"pattern": PARAM_NAME, "not": {"enum": sorted(RESERVED_PARAMS)}},
        "additionalProperties": {"$ref": "#/$defs/ParamSpec"},
    }
    schema["properties"]["steps"]["items"] = {"$ref": "#/$defs/StepEntry"}
    steps = [step for name in registry.names() if (step := registry.get(name)) is not None]
    out_defs: dict[str, Any] = {
        "ParamSpec": _param_spec(defs["ParamSpec"]),
        TEMPLATED: {
            "description": "a text with {param} placeholders, filled in with validated parameter values at plan time",
            "type": "string",
            "pattern": PLACEHOLDER.pattern,
        },
        "StepEntry": {
            "description": "`- <step>: {arguments}`, `- include: <runbook>`, or `{step: <step>, args: {...}}`",
            "type": "object",
            "if": {"required": ["step"]},
            "then": {"$ref": "#/$defs/StepCall"},
            "else": {"$ref": "#/$defs/CompactStep"},
        },
        "CompactStep": _compact_step(steps),
        "StepCall": _long_step(steps),
    }
    for step in steps:
        out_defs.update(_step_args(step))
    return {
        "$schema": DIALECT,
        "title": "k8s-runbook-bot runbook",
        "description": "A runbook: typed parameters, a risk level and steps (`runbook-bot steps` lists the steps).",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
        "$defs": out_defs,
    }


def args_ref(step_name: str) -> str:
    """Where a step's arguments schema lives in ``$defs``."""
    return f"#/$defs/args.{step_name}"


def _compact_step(steps: list[Step[Any]]) -> dict[str, Any]:
    include = IncludeCall.model_json_schema()["properties"][INCLUDE_KEY]
    include.pop("title", None)
    properties: dict[str, Any] = {INCLUDE_KEY: include}
    for step in steps:
        properties[step.name] = {"$ref": args_ref(step.name)}
    return {
        "description": "one step call `- <step>: {arguments}` or `- include: <runbook>`",
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": properties,
        "additionalProperties": False,
    }


def _long_step(steps: list[Step[Any]]) -> dict[str, Any]:
    long_form = StepCall.model_json_schema()
    _drop_titles(long_form)
    long_form["properties"]["step"]["enum"] = [s.name for s in steps]
    long_form["properties"]["args"] = {"description": long_form["properties"]["args"]["description"]}
    long_form["allOf"] = [
        {
            "if": {"properties": {"step": {"const": s.name}}},
            "then": {"properties": {"args": {"$ref": args_ref(s.name)}}},
        }
        for s in steps
    ]
    return long_form


def _step_args(step: Step[Any]) -> dict[str, Any]:
    """``args.<step>`` (and its nested models) from the step's Params, each argument templatable."""
    params: type[BaseModel] = step.Params
    prefix = f"args.{step.name}."
    schema = params.model_json_schema(ref_template=f"#/$defs/{prefix}{{model}}")
    nested = {f"{prefix}{name}": body for name, body in schema.pop("$defs", {}).items()}
    _drop_titles(schema)
    for name, prop in list(schema.get("properties", {}).items()):
        default = params.model_fields[name].default
        if isinstance(default, timedelta):
            prop["default"] = format_duration(default)
        schema["properties"][name] = _templatable(prop)
    doc = (step.__doc__ or "").strip().splitlines()
    schema["description"] = step.summary + (f" — {doc[0]}" if doc else "")
    # `- bot.runs:` (no arguments at all) is fine for a step that requires none.
    schema["type"] = "object" if schema.get("required") else ["object", "null"]
    return {f"args.{step.name}": schema, **nested}


def _templatable(prop: dict[str, Any]) -> dict[str, Any]:
    """An argument's schema, or a ``{placeholder}`` text instead; description and default stay on top."""
    meta: dict[str, Any] = {k: prop.pop(k) for k in ("description", "default") if k in prop}
    alternatives = prop["anyOf"] if set(prop) == {"anyOf"} else [prop]
    return {**meta, "anyOf": [*alternatives, {"$ref": f"#/$defs/{TEMPLATED}"}]}


def _param_spec(spec: dict[str, Any]) -> dict[str, Any]:
    _drop_titles(spec)
    rules: list[dict[str, Any]] = [
        {"if": _type_is("choice"), "then": {"required": ["choices"]}},
        *(
            {"if": _type_is(kind), "then": {"properties": {"default": {"anyOf": [{"type": "null"}, shape]}}}}
            for kind, shape in DEFAULT_BY_TYPE.items()
        ),
    ]
    return {**spec, "allOf": rules}


def _type_is(kind: str) -> dict[str, Any]:
    return {"properties": {"type": {"const": kind}}, "required": ["type"]}


def _drop_titles(schema: dict[str, Any]) -> None:
    """Pydantic's generated titles ("Grace Period") only repeat the key; editors show descriptions."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
