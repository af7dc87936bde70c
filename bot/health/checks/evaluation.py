"""Evaluating the checks: every enabled check whose resources were read, against one snapshot.

A ``Finding`` is one problem on one subject *now*; how long it must last before anyone is told
(its duration) is the alert lifecycle's business (``bot.health.alerting``). The evaluation also
says which checks ran (their alerts may resolve) and which were skipped, and why (their alerts
are left as they are).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.health.checks.findings import BackupStatus, Evaluation
from bot.health.checks.registry import ChecksConfig
from bot.health.checks.snapshot import ClusterSnapshot


def evaluate(
    snap: ClusterSnapshot, checks: ChecksConfig, now: datetime, backup: BackupStatus | None = None
) -> Evaluation:
    """Run every enabled check whose resources were read; say which ran and which were skipped."""
    if backup is not None:
        snap = replace(snap, backup=backup)
    result = Evaluation()
    for check in checks.enabled():
        unread = [r for r in check.resources if r in snap.errors]
        if unread:
            result.skipped[check.name] = "; ".join(f"{r}: {snap.errors[r]}" for r in unread)
            continue
        if not snap.has(*check.resources):
            continue  # not part of this sweep (no backup source for this cluster…): neither ran nor skipped
        result.evaluated.add(check.name)
        result.findings += check.find(snap, checks.of(check), now)
    return result
