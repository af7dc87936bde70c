"""``job_failed``: a Job with ``Failed=True`` (and the CronJob it came from, if any)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import ClusterSnapshot


def find_failed_jobs(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """One finding per failed Job (the snapshot keeps only failed ones)."""
    return [
        Finding(
            "job_failed",
            f"job/{j.namespace}/{j.name}",
            f"job {j.name} in {j.namespace} failed ({j.reason})" + (f", from cronjob {j.owner}" if j.owner else ""),
            settings.severity,
            j.failed_since,
        )
        for j in snap.jobs
    ]


JOB_FAILED = Check(
    name="job_failed",
    title="Job failed",
    why="A Job gave up: its work (a backup, a migration, a report…) did not happen.",
    duration=timedelta(minutes=15),
    severity="warning",
    resources=("jobs",),
    settings=CheckSettings,
    find=find_failed_jobs,
)
