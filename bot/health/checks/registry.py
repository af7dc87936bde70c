"""The registry of health checks: one object, listing every check explicitly.

Settings (defaults, overrides and their validation), alert titles and explanations, the sweep
(which resources to list), the digest and the ``health`` runbook all read it. Adding a check is
one module defining a ``Check`` plus its line in ``HEALTH_CHECKS`` at the bottom of this file.
Components take the registry as a parameter (default ``HEALTH_CHECKS``), so tests can bring
their own.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from bot.config.health import CheckOverride
from bot.config.settings import Settings
from bot.health.checks.check import Check, CheckSettings, S
from bot.health.checks.snapshot import RESOURCES, Keeper

#: A problem in the settings: where (a field path) and why.
SettingsProblem = tuple[tuple[str | int, ...], str]
Overrides = Mapping[str, CheckOverride | Mapping[str, Any]]


class CheckRegistry:
    """Every health check by name, in the order they are evaluated and documented."""

    def __init__(self, checks: Iterable[Check[Any]]) -> None:
        self._checks: dict[str, Check[Any]] = {}
        for check in checks:
            if check.name in self._checks:
                raise ValueError(f"health check {check.name!r} registered twice")
            unknown = [r for r in (*check.resources, *check.keeps) if r not in RESOURCES]
            if unknown or not set(check.keeps) <= set(check.resources):
                raise ValueError(f"health check {check.name!r} reads unknown or undeclared resources: {unknown}")
            check.configure()  # its own defaults must be valid settings
            self._checks[check.name] = check

    def __iter__(self) -> Iterator[Check[Any]]:
        return iter(self._checks.values())

    def __len__(self) -> int:
        return len(self._checks)

    def __contains__(self, name: object) -> bool:
        return name in self._checks

    def names(self) -> list[str]:
        """Every check name, in registry order."""
        return list(self._checks)

    def get(self, name: str) -> Check[Any]:
        """The check called ``name`` (KeyError when there is none)."""
        return self._checks[name]

    def title(self, name: str) -> str:
        """``Node NotReady`` — the check's title, or its name when it is no longer registered."""
        check = self._checks.get(name)
        return check.title if check is not None else name

    def why(self, name: str) -> str:
        """Why the check matters, shown in its alert ("" when it is no longer registered)."""
        check = self._checks.get(name)
        return check.why if check is not None else ""

    def configure(self, overrides: Overrides | None = None) -> ChecksConfig:
        """Every check's settings: its defaults with ``overrides`` on top (ValueError when they are invalid)."""
        given = {name: _fields(value) for name, value in (overrides or {}).items()}
        unknown = sorted(set(given) - set(self._checks))
        if unknown:
            raise ValueError(f"unknown health check(s): {', '.join(unknown)}")
        return ChecksConfig(self, {c.name: c.configure(given.get(c.name)) for c in self})

    def problems(self, overrides: Overrides) -> list[SettingsProblem]:
        """What is wrong with ``overrides``: unknown checks, unknown fields, bad values (each located)."""
        out: list[SettingsProblem] = []
        for name, value in overrides.items():
            check = self._checks.get(name)
            if check is None:
                close = difflib.get_close_matches(name, self._checks, n=1)
                hint = f"; did you mean {close[0]}?" if close else f"; known checks: {', '.join(self._checks)}"
                out.append(((name,), f"unknown setting (check the spelling): no health check {name!r}{hint}"))
                continue
            try:
                check.configure(_fields(value))
            except ValidationError as exc:
                for err in exc.errors(include_url=False, include_input=False):
                    loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
                    msg = "unknown setting (check the spelling)" if err["type"] == "extra_forbidden" else err["msg"]
                    out.append(((name, *loc), msg))
        return out

    def settings_problems(self, settings: Settings) -> list[SettingsProblem]:
        """``problems`` of ``health.checks``, located from the settings' root: the hook run at startup."""
        return [(("health", "checks", *loc), msg) for loc, msg in self.problems(settings.health.checks)]


class ChecksConfig:
    """The effective settings of every registered check (``checks.node_not_ready`` reads like the YAML)."""

    def __init__(self, registry: CheckRegistry, values: Mapping[str, CheckSettings]) -> None:
        self.registry = registry
        self._values = dict(values)

    def get(self, name: str) -> CheckSettings:
        """The settings of check ``name`` (KeyError when there is no such check)."""
        return self._values[name]

    def of(self, check: Check[S]) -> S:
        """The settings of ``check``, of its own settings type."""
        value = self._values[check.name]
        assert isinstance(value, check.settings), f"{check.name} is configured by another registry"
        return value

    def __getattr__(self, name: str) -> CheckSettings:
        values: dict[str, CheckSettings] = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"no health check {name!r}")

    def enabled(self) -> list[Check[Any]]:
        """The checks turned on, in registry order."""
        return [c for c in self.registry if self._values[c.name].enabled]

    def resources(self) -> set[str]:
        """The resources the enabled checks read."""
        return {r for c in self.enabled() for r in c.resources}

    def keepers(self) -> dict[str, list[Keeper]]:
        """resource → (check, what it keeps of each object) of the enabled checks that keep their own records."""
        out: dict[str, list[Keeper]] = {}
        for check in self.enabled():
            for resource, keep in check.keeps.items():
                out.setdefault(resource, []).append((check.name, keep))
        return out


def _fields(value: CheckOverride | Mapping[str, Any]) -> dict[str, Any]:
    return value.fields() if isinstance(value, CheckOverride) else dict(value)
