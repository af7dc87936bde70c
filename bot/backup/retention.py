"""Retention: which backups to keep — the newest N, and the newest of each of the last N hours, days, weeks.

The same rule as ``restic forget --keep-last/--keep-hourly/--keep-daily/--keep-weekly``: buckets
(an hour, a day, an ISO week — in the schedule's time zone) are counted only when they hold a
backup, so a gap in the schedule does not make older backups expire sooner. Pure functions,
applied by the pipeline only after a backup succeeded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.backup.manifest import BackupManifest
from bot.config.backup import RetentionSettings


def _buckets(zone: ZoneInfo) -> dict[str, Callable[[datetime], tuple[int, ...]]]:
    def local(at: datetime) -> datetime:
        return at.astimezone(zone)

    return {
        "hourly": lambda at: (local(at).year, local(at).month, local(at).day, local(at).hour),
        "daily": lambda at: (local(at).year, local(at).month, local(at).day),
        "weekly": lambda at: tuple(local(at).isocalendar()[:2]),
    }


def keep_set(
    backups: Sequence[BackupManifest], policy: RetentionSettings, timezone: str = "UTC"
) -> dict[str, list[str]]:
    """Backup id → the reasons it is kept (``last``, ``hourly``, ``daily``, ``weekly``); absent = delete.

    With every count at zero, everything is kept (retention off).
    """
    newest_first = sorted(backups, key=lambda b: (b.created_at, b.id), reverse=True)
    if not any((policy.keep_last, policy.hourly, policy.daily, policy.weekly)):
        return {b.id: ["retention off"] for b in newest_first}
    kept: dict[str, list[str]] = {}
    for b in newest_first[: policy.keep_last]:
        kept.setdefault(b.id, []).append("last")
    for rule, bucket_of in _buckets(ZoneInfo(timezone)).items():
        limit = int(getattr(policy, rule))
        seen: set[tuple[int, ...]] = set()
        for b in newest_first:
            if len(seen) >= limit:
                break
            bucket = bucket_of(b.created_at)
            if bucket in seen:
                continue
            seen.add(bucket)
            kept.setdefault(b.id, []).append(rule)
    return kept


def to_delete(backups: Sequence[BackupManifest], policy: RetentionSettings, timezone: str = "UTC") -> list[str]:
    """Ids of the backups the policy does not keep, oldest first."""
    kept = keep_set(backups, policy, timezone)
    return [b.id for b in sorted(backups, key=lambda b: (b.created_at, b.id)) if b.id not in kept]
