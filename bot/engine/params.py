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

from pydantic import BaseModel, ConfigDict, model_validator

from bot.durations import EXAMPLES, DurationError, parse_duration
from bot.errors import ParseError
from bot.model import Weights
from bot.steps.base import WorkloadRef

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

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SAFE_STRING = re.compile(r"^[\w.:/@=+,-]{1,253}$")
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

    type: ParamType
    help: str = ""
    default: Any = None
    required: bool | None = None
    positional: bool | None = None
    choices: list[str] | None = None
    min: int | None = None
    max: int | None = None

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
            parse_value("default", self, str(self.default))
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
    raise ParseError(f"--{name} takes true or false, not `{raw}`")


def _integer(name: str, spec: ParamSpec, raw: str) -> int:
    if not re.fullmatch(r"-?\d{1,9}", raw):
        raise ParseError(f"{name} must be a whole number, not `{raw}`")
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
        raise ParseError(f"{name} must be one of {', '.join(spec.choices)}; got `{raw}`")
    return raw


def _object_name(name: str, spec: ParamSpec, raw: str) -> str:
    if len(raw) > 253 or not DNS_SUBDOMAIN.match(raw):
        raise ParseError(
            f"`{raw}` is not a valid {spec.type} name", hint="names are lowercase letters, digits, '-' and '.'"
        )
    return raw


def _label(name: str, spec: ParamSpec, raw: str) -> str:
    if len(raw) > 63 or not DNS_LABEL.match(raw):
        raise ParseError(f"`{raw}` is not a valid {spec.type} name")
    return raw


def _workload(name: str, spec: ParamSpec, raw: str) -> WorkloadName:
    kind, _, wname = raw.rpartition("/")
    if kind and kind.lower() not in WORKLOAD_KINDS:
        raise ParseError(f"`{kind}` is not a workload kind", hint="use deployment/, statefulset/ or daemonset/")
    if len(wname) > 253 or not DNS_SUBDOMAIN.match(wname):
        raise ParseError(f"`{raw}` is not a valid workload name")
    return WorkloadName(WORKLOAD_KINDS[kind.lower()] if kind else None, wname)


def _string(name: str, spec: ParamSpec, raw: str) -> str:
    if not SAFE_STRING.match(raw):
        raise ParseError(f"{name} contains characters that are not allowed: `{raw[:40]}`")
    return raw


_PARSERS: dict[str, Callable[[str, ParamSpec, str], Any]] = {
    "bool": _bool,
    "integer": _integer,
    "duration": lambda name, spec, raw: parse_duration_param(raw),
    "weights": _weights,
    "choice": _choice,
    "node": _object_name,
    "pod": _object_name,
    "namespace": _label,
    "runbook": _label,
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
