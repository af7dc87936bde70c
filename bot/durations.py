"""Durations, the one place they are parsed and written: ``90s``, ``10m``, ``1h30m``, ``2d``.

Runbook parameters (``--timeout 10m``) and configuration (``duration: 15m``) use the same
grammar: optional days, hours, minutes and seconds in that order, each a whole number. A
duration longer than ``MAX_DURATION`` is refused (``99999999999h`` would overflow ``timedelta``).
``format_duration`` is the exact inverse of ``parse_duration``; ``human_duration`` keeps the two
largest units for people to read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_GRAMMAR = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_MAX_DIGITS = 12
MAX_DURATION = timedelta(days=366)
EXAMPLES = "90s, 10m, 1h30m or 2d"


class DurationError(ValueError):
    """A text that is not a duration, or one out of range; the message says which and why."""


def parse_duration(text: str, *, maximum: timedelta = MAX_DURATION) -> timedelta:
    """``90s``, ``10m``, ``1h30m``, ``2d`` → timedelta; DurationError for anything else or > ``maximum``."""
    match = _GRAMMAR.fullmatch(text)
    if not text or match is None or not any(match.groups()):
        raise DurationError(f"{text[:40]!r} is not a duration (use forms like {EXAMPLES})")
    if any(g and len(g) > _MAX_DIGITS for g in match.groups()):
        raise DurationError(f"{text[:40]!r} is too long (at most {format_duration(maximum)})")
    d, h, m, s = (int(g) if g else 0 for g in match.groups())
    seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds > maximum.total_seconds():
        raise DurationError(f"{text!r} is too long (at most {format_duration(maximum)})")
    return timedelta(seconds=seconds)


def coerce_duration(value: object, *, maximum: timedelta = MAX_DURATION) -> timedelta:
    """A configuration value → timedelta: a ``timedelta``, a number of seconds, or a duration text."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise DurationError("a duration cannot be negative")
        if value > maximum.total_seconds():
            raise DurationError(f"{value} seconds is too long (at most {format_duration(maximum)})")
        return timedelta(seconds=value)
    return parse_duration(str(value).strip(), maximum=maximum)


def format_duration(value: timedelta) -> str:
    """``1h30m``, ``15m``, ``2d``, ``0s``: every unit, exact (the inverse of ``parse_duration``)."""
    secs = int(value.total_seconds())
    if secs <= 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size:
            out += f"{secs // size}{unit}"
            secs %= size
    return out


def human_duration(value: timedelta) -> str:
    """``1d7h``, ``3h5m``, ``12m``, ``40s``: the two largest units, for people to read."""
    parts = re.findall(r"\d+[dhms]", format_duration(value))
    return "".join(parts[:2]) if parts else "0s"


def seconds_text(seconds: float) -> str:
    """A short elapsed time: ``0.4s``, ``12.3s`` under a minute, else ``human_duration``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    return human_duration(timedelta(seconds=round(seconds)))


def ago(at: datetime | None, now: datetime) -> str:
    """``12m`` since ``at`` (``?`` when unknown)."""
    return human_duration(now - at) if at is not None else "?"


def clock_time(at: datetime, now: datetime, *, seconds: bool = False) -> str:
    """``14:05 UTC`` when ``at`` is on ``now``'s day (UTC), else ``2026-11-30 14:05 UTC``: a time people can place.

    A bare ``14:05`` about another day (an expiry tomorrow, a heartbeat last night) reads as today's.
    """
    at, now = at.astimezone(UTC), now.astimezone(UTC)
    clock = at.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{clock} UTC" if at.date() == now.date() else f"{at:%Y-%m-%d} {clock} UTC"
