"""A schedule in the configuration: an IANA time zone and a crontab line (digests, etcd backups)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def known_zone(value: str) -> str:
    """``value`` when it names an IANA time zone; ValueError saying what to use otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Madrid)") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(known_zone)]


def check_cron(cron: str, zone: str) -> None:
    """ValueError naming ``cron`` when APScheduler cannot read it as a crontab line in ``zone``."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(cron, timezone=ZoneInfo(zone))
    except ValueError as exc:
        raise ValueError(f"cron {cron!r} is invalid: {exc}") from None
