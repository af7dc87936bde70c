"""Typed runbook parameters: parsed from text, then resolved against the cluster.

Parsing rejects malformed input before anything touches a cluster; resolution checks that
named objects exist and, when they do not, offers the closest names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.durations import EXAMPLES, DurationError, parse_duration
from bot.errors import ParseError
from bot.model import Permission, Weights, WorkloadRef

ParamType = Literal[
    "string",
    "integer",
    "bool",
    "duration",
    "weights",
    "node",
    "namespace",
    "pod",
    "workload",
    "runbook",
    "choice",
]

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
SAFE_STRING = re.compile(r"[\w.:/@=+,-]{1,253}")
WORKLOAD_KINDS = {
    "deployment": "Deployment",
    "deploy": "Deployment",
    "deployments": "Deployment",
    "statefulset": "StatefulSet",
    "sts": "StatefulSet",
    "statefulsets": "StatefulSet",
    "daemonset": "DaemonSet",
    "ds": "DaemonSet",
    "daemonsets": "DaemonSet",
}


class ParamSpec(BaseModel):
    """One declared runbook parameter."""

    model_config = ConfigDict(extra="forbid")

    type: ParamType = Field(description="how the value is checked (and resolved against the cluster for node, pod...)")
    help: str = Field("", description="one line for `help <runbook>`")
    default: Any = Field(None, description="the value when not given (a bool defaults to false)")
    required: bool | None = Field(None, description="default: true when there is no default (bools never)")
    positional: bool | None = Field(None, description="default: required non-bool parameters are positional")
    choices: list[str] | None = Field(None, description="the allowed values of a choice parameter")
    min: int | None = Field(None, description="smallest allowed value of an integer parameter")
    max: int | None = Field(None, description="largest allowed value of an integer parameter")

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice parameter needs 'choices'")
        if self.choices and self.type not in ("choice", "weights"):
            raise ValueError("'choices' applies to choice and weights parameters only")
        if self.required is None:
            self.required = self.default is None and self.type != "bool"
        if self.positional is None:
            self.positional = self.type != "bool" and bool(self.required)
        if self.type == "bool" and self.default is None:
            self.default = False
        if self.default is not None and self.type != "bool":
            try:
                parse_value("default", self, str(self.default))
            except ParseError as exc:  # a ValueError, so the runbook loader reports it with file and line
                raise ValueError(f"invalid default: {exc.message}") from None
        return self


@dataclass(frozen=True)
class WorkloadName:
    """A workload as typed: optional kind and a name; resolved later against the cluster."""

    kind: str | None
    name: str


def parse_duration_param(text: str) -> timedelta:
    """A duration parameter (``90s``, ``10m``, ``1h30m``, ``2d``); a ParseError says what is wrong."""
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise ParseError(str(exc), hint=f"use forms like {EXAMPLES}") from None


WEIGHTS_RULE = "a split is stable/canary: two whole numbers from 0 to 100 that add up to 100, e.g. 90/10"


def parse_weights(text: str) -> Weights:
    """``90/10`` → Weights(90, 10); both integers 0–100 summing to 100. Errors state the rule."""
    raw = text.strip()
    parts = raw.split("/")
    if len(parts) != 2:
        raise ParseError(f"`{text[:40]}` is not a weight split: it has {len(parts)} parts", hint=WEIGHTS_RULE)
    if not all(re.fullmatch(r"-?\d{1,4}", p) for p in parts):
        raise ParseError(f"`{text[:40]}` is not a weight split: weights are whole numbers", hint=WEIGHTS_RULE)
    stable, canary = int(parts[0]), int(parts[1])
    if not (0 <= stable <= 100 and 0 <= canary <= 100):
        raise ParseError(f"weights `{raw}`: each weight must be between 0 and 100", hint=WEIGHTS_RULE)
    if stable + canary != 100:
        raise ParseError(f"weights `{raw}` add up to {stable + canary}, not 100", hint=WEIGHTS_RULE)
    return Weights(stable, canary)


def _bool(name: str, spec: ParamSpec, raw: str) -> bool:
    low = raw.lower()
    if low in ("true", "yes", "1", "on"):
        return True
    if low in ("false", "no", "0", "off"):
        return False
    raise ParseError(f"--{name} takes true or false, not `{raw[:40]}`")


def _integer(name: str, spec: ParamSpec, raw: str) -> int:
    if not re.fullmatch(r"-?\d{1,9}", raw):
        raise ParseError(f"{name} must be a whole number, not `{raw[:40]}`")
    value = int(raw)
    if spec.min is not None and value < spec.min:
        raise ParseError(f"{name} must be at least {spec.min}, not {value}")
    if spec.max is not None and value > spec.max:
        raise ParseError(f"{name} must be at most {spec.max}, not {value}")
    return value


def _weights(name: str, spec: ParamSpec, raw: str) -> Weights | str:
    if spec.choices and raw in spec.choices:
        return raw  # a weights parameter may also take listed words (canary: promote, abort, status)
    return parse_weights(raw)


def _choice(name: str, spec: ParamSpec, raw: str) -> str:
    assert spec.choices is not None
    if raw not in spec.choices:
        raise ParseError(f"{name} must be one of {', '.join(spec.choices)}; got `{raw[:40]}`")
    return raw


def _object_name(name: str, spec: ParamSpec, raw: str) -> str:
    """Node and pod names are DNS subdomains; namespaces and runbooks DNS labels."""
    label = spec.type in ("namespace", "runbook")
    pattern, limit = (DNS_LABEL, 63) if label else (DNS_SUBDOMAIN, 253)
    if len(raw) > limit or not pattern.fullmatch(raw):
        hint = None if label else "names are lowercase letters, digits, '-' and '.'"
        raise ParseError(f"`{raw[:80]}` is not a valid {spec.type} name", hint=hint)
    return raw


def _workload(name: str, spec: ParamSpec, raw: str) -> WorkloadName:
    kind, _, wname = raw.rpartition("/")
    if kind and kind.lower() not in WORKLOAD_KINDS:
        raise ParseError(f"`{kind[:40]}` is not a workload kind", hint="use deployment/, statefulset/ or daemonset/")
    if len(wname) > 253 or not DNS_SUBDOMAIN.fullmatch(wname):
        raise ParseError(f"`{raw[:80]}` is not a valid workload name")
    return WorkloadName(WORKLOAD_KINDS[kind.lower()] if kind else None, wname)


def _string(name: str, spec: ParamSpec, raw: str) -> str:
    if not SAFE_STRING.fullmatch(raw):
        raise ParseError(f"{name} contains characters that are not allowed: `{raw[:40]}`")
    return raw


_PARSERS: dict[str, Callable[[str, ParamSpec, str], Any]] = {
    "bool": _bool,
    "integer": _integer,
    "duration": lambda _name, _spec, raw: parse_duration_param(raw),
    "weights": _weights,
    "choice": _choice,
    "node": _object_name,
    "pod": _object_name,
    "namespace": _object_name,
    "runbook": _object_name,
    "workload": _workload,
    "string": _string,
}


def parse_value(name: str, spec: ParamSpec, raw: str) -> Any:
    """Check ``raw`` against the parameter's type; return the typed (unresolved) value."""
    return _PARSERS[spec.type](name, spec, raw)


class Resolver(Protocol):
    """Checks named objects against a cluster (implemented by the Kubernetes executors)."""

    def node(self, name: str) -> str:
        """The node's name, or NotFoundError with the closest names."""
        ...

    def namespace(self, name: str) -> str:
        """The namespace's name, or NotFoundError."""
        ...

    def pod(self, namespace: str, name: str) -> str:
        """The pod's name in ``namespace``, or NotFoundError."""
        ...

    def workload(self, namespace: str, kind: str | None, name: str) -> WorkloadRef:
        """The workload, or NotFoundError (ambiguous names across kinds are an error too)."""
        ...


def resolve_value(spec: ParamSpec, value: Any, resolver: Resolver, namespace: str) -> Any:
    """Resolve a parsed value against the cluster when its type names a cluster object."""
    if spec.type == "node":
        return resolver.node(value)
    if spec.type == "namespace":
        return resolver.namespace(value)
    if spec.type == "pod":
        return resolver.pod(namespace, value)
    if spec.type == "workload":
        assert isinstance(value, WorkloadName)
        return resolver.workload(namespace, value.kind, value.name)
    return value


def resolution_permissions(spec: ParamSpec, value: Any, namespace: str) -> list[Permission]:
    """What resolving ``value`` reads as the requester (the object, by name)."""
    if spec.type == "node":
        return [Permission(verb="get", resource="nodes", name=str(value))]
    if spec.type == "namespace":
        return [Permission(verb="get", resource="namespaces", name=str(value))]
    if spec.type == "pod":
        return [Permission(verb="get", resource="pods", namespace=namespace, name=str(value))]
    if spec.type == "workload" and isinstance(value, WorkloadName):
        kinds = [value.kind] if value.kind else ["Deployment", "StatefulSet", "DaemonSet"]
        return [
            Permission(verb="get", group="apps", resource=kind.lower() + "s", namespace=namespace, name=value.name)
            for kind in kinds
        ]
    return []
