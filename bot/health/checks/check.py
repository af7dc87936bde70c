"""A health check, defined once: name, title, why it matters, defaults, what it reads, how it finds.

Everything else — settings and their validation, alert titles and explanations, the digest, the
``health`` runbook, the README table's test — reads these definitions through the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from bot.config.health import Duration, Severity
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import ClusterSnapshot
from bot.kube_facts import Obj


class CheckSettings(BaseModel):
    """One check's effective settings: on or off, how long its condition must hold, its alert's severity.

    A check that takes more (a certificate's warning windows, a backup's age) subclasses this,
    each extra field with its default. Unknown fields are refused.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    duration: Duration
    severity: Severity


S = TypeVar("S", bound=CheckSettings)


@dataclass(frozen=True)
class Check(Generic[S]):
    """One health check.

    ``resources`` are what it reads from the snapshot (``snapshot.RESOURCES``): a resource that
    could not be read skips the check for that sweep. ``find`` turns a snapshot into findings,
    all of this check. ``keeps`` (resource → function of one raw object) is for a check that
    needs something the shared records do not carry: what the function returns (unless None)
    is kept for it, in ``snapshot.kept[name]``.
    """

    name: str
    title: str
    why: str
    duration: timedelta
    severity: Severity
    resources: tuple[str, ...]
    settings: type[S]
    find: Callable[[ClusterSnapshot, S, datetime], list[Finding]]
    keeps: Mapping[str, Callable[[Obj], Any]] = field(default_factory=dict)

    def configure(self, override: Mapping[str, Any] | None = None) -> S:
        """This check's defaults with ``override``'s fields on top (pydantic's ValidationError when one is bad)."""
        return self.settings.model_validate({"duration": self.duration, "severity": self.severity, **(override or {})})

    def kept(self, snap: ClusterSnapshot) -> list[Any]:
        """What this check kept of the objects of this sweep (see ``keeps``)."""
        return snap.kept.get(self.name, [])
