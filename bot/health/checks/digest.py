"""The health digest as a Report: clusters at a glance, firing alerts, recent runs, backups.

Shared by the scheduled digest (``bot.health.alerting``) and the on-demand ``health`` runbook, so both
tell the same story. Long lists stop at a fixed length with "… and N more", which also keeps
the Slack message within Block Kit's limits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from bot.durations import ago, clock_time, human_duration
from bot.health.checks.findings import SEVERITY_RANK, BackupStatus, Evaluation, Finding
from bot.health.checks.snapshot import ClusterSnapshot
from bot.report import Report, Tone
from bot.store import AlertRecord, RunRecord

MAX_LINES = 15
MAX_RUNS = 15


@dataclass
class ClusterGlance:
    """One cluster in one line: nodes, pods, workloads, what could not be read."""

    cluster: str
    error: str | None = None
    nodes: int = 0
    ready: int = 0
    cordoned: int = 0
    pods: int = 0
    unhealthy_pods: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    unread: list[str] = field(default_factory=list)

    def line(self) -> str:
        """``prod: 40/41 nodes Ready, 1 cordoned · 1203 pods, 3 not running · 2 problems``."""
        if self.error:
            return f"{self.cluster}: UNREACHABLE — {self.error}"
        problems = sum(self.findings.values())
        text = (
            f"{self.cluster}: {self.ready}/{self.nodes} nodes Ready"
            + (f", {self.cordoned} cordoned" if self.cordoned else "")
            + f" · {self.pods} pods, {self.unhealthy_pods} not running"
            + f" · {problems} problem{'s' if problems != 1 else ''} now"
        )
        if self.unread:
            text += f" · not read: {', '.join(self.unread)}"
        return text

    @property
    def healthy(self) -> bool:
        """Reachable, everything read, nothing found."""
        return not self.error and not self.unread and not self.findings


def glance(snap: ClusterSnapshot, evaluation: Evaluation) -> ClusterGlance:
    """Summarise a sweep of one cluster."""
    return ClusterGlance(
        cluster=snap.cluster,
        nodes=len(snap.nodes),
        ready=sum(1 for n in snap.nodes if n.ready),
        cordoned=sum(1 for n in snap.nodes if n.cordoned),
        pods=len(snap.pods),
        unhealthy_pods=sum(1 for p in snap.pods if not p.healthy),
        findings=Counter(f.severity for f in evaluation.findings),
        unread=sorted(snap.errors),
    )


def alert_line(a: AlertRecord, now: datetime) -> str:
    """``[critical] prod · node node-7 is NotReady · firing 2h13m · acked by bob``."""
    text = f"[{a.severity}] {a.cluster} · {a.summary} · firing {ago(a.fired_at or a.since, now)}"
    if a.acked_by:
        text += f" · acked by {a.acked_by}"
    if a.silenced(now) and a.silenced_until:
        text += f" · silenced until {clock_time(a.silenced_until, now)}"
    return text


def _capped(lines: list[str], limit: int, what: str) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"… and {len(lines) - limit} more {what}"]


def digest_report(
    title: str,
    *,
    now: datetime,
    glances: list[ClusterGlance],
    firing: list[AlertRecord],
    runs: list[RunRecord],
    runs_since: datetime | None,
    backups: dict[str, BackupStatus | None],
    resolved: list[AlertRecord] | None = None,
    findings: list[Finding] | None = None,
) -> Report:
    """The digest: clusters, firing alerts, (current findings), resolved alerts, runs, backups."""
    critical = sum(1 for a in firing if a.severity == "critical")
    down = [g for g in glances if g.error]
    tone = Tone.ERROR if critical or down else (Tone.WARN if firing or findings else Tone.OK)
    since_text = f"since {runs_since:%a %d %b %H:%M} UTC" if runs_since else "recently"
    report = Report(
        title=title,
        tone=tone,
        summary=f"{len(glances)} cluster{'s' if len(glances) != 1 else ''} · {len(firing)} alert"
        f"{'s' if len(firing) != 1 else ''} firing ({critical} critical) · {len(runs)} run"
        f"{'s' if len(runs) != 1 else ''} {since_text}",
    )
    clusters = report.section(
        "Clusters", tone=Tone.ERROR if down else (Tone.OK if all(g.healthy for g in glances) else Tone.WARN)
    )
    clusters.lines = _capped([g.line() for g in glances], MAX_LINES, "clusters")
    ordered = sorted(firing, key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), a.fired_at or a.since))
    section = report.section(
        f"Firing alerts ({len(firing)})", tone=Tone.ERROR if critical else Tone.WARN if firing else Tone.OK
    )
    section.lines = _capped([alert_line(a, now) for a in ordered], MAX_LINES, "firing alerts") or ["none"]
    if findings is not None:
        found = sorted(findings, key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.check, f.subject))
        now_section = report.section(f"Problems found now ({len(found)})", tone=Tone.WARN if found else Tone.OK)
        now_section.lines = _capped(
            [f"[{f.severity}] {f.summary}" + (f" · since {ago(f.since, now)}" if f.since else "") for f in found],
            MAX_LINES,
            "problems",
        ) or ["none"]
    if resolved:
        done = report.section(f"Resolved {since_text} ({len(resolved)})", tone=Tone.OK)
        done.lines = _capped(
            [f"{a.cluster} · {a.summary} · after {ago(a.since, a.resolved_at or now)}" for a in resolved],
            5,
            "resolved alerts",
        )
    rows = [[r.id, r.command[:50], r.cluster, r.requester_name, r.state.replace("_", " ")] for r in runs[:MAX_RUNS]]
    report.table(["Run", "Command", "Cluster", "By", "State"], rows, title=f"Runs {since_text}", empty="no runs")
    if len(runs) > MAX_RUNS:
        report.section().lines = [f"… and {len(runs) - MAX_RUNS} more runs (`runs` lists them)"]
    backup = report.section("etcd backups")
    backup.lines = [_backup_line(cluster, status, now) for cluster, status in sorted(backups.items())] or [
        "no backup source configured (health.backups)"
    ]
    if any(s is not None and (s.last_success is None or now - s.last_success > s.max_age) for s in backups.values()):
        backup.tone = Tone.WARN
    report.context.append(f"as of {now:%Y-%m-%d %H:%M} UTC")
    return report


def _backup_line(cluster: str, status: BackupStatus | None, now: datetime) -> str:
    if status is None:
        return f"{cluster}: no backup source configured"
    if status.last_success is None:
        return f"{cluster}: no successful backup found ({status.source})"
    late = now - status.last_success > status.max_age
    return (
        f"{cluster}: last successful backup {human_duration(now - status.last_success)} ago"
        + (f" — OVERDUE (allowed {human_duration(status.max_age)})" if late else "")
        + f" ({status.source})"
    )
