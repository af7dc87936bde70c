"""The alert's one message, as a Report: what, where, since when, why it matters, the likely runbook.

Buttons (``Action``): Ack, Silence 1h/4h/24h, and one per runbook that would fix the problem
(only runbooks that exist in the catalog). A resolved alert keeps its message, without buttons.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.durations import human_duration
from bot.health.checks import HEALTH_CHECKS, CheckRegistry, Finding
from bot.report import Action, Report, Tone
from bot.store import AlertRecord

SILENCES: dict[str, timedelta] = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(hours=24)}
MAX_RUN_BUTTONS = 3
TONE = {"info": Tone.INFO, "warning": Tone.WARN, "critical": Tone.ERROR}
RunbookExists = Callable[[str], bool]


def finding_details(f: Finding) -> dict[str, Any]:
    """What the store keeps about a finding besides its summary: examples and suggested runbooks."""
    return {
        "lines": list(f.details),
        "actions": [
            {"runbook": a.runbook, "command": a.command, "label": a.label, "style": a.style} for a in f.actions
        ],
    }


def offered_runs(a: AlertRecord, runbook_exists: RunbookExists) -> list[tuple[int, dict[str, Any]]]:
    """(index, suggestion) of the suggested runbooks that exist, best first, at most three."""
    found = [(i, s) for i, s in enumerate(a.details.get("actions") or []) if runbook_exists(str(s.get("runbook")))]
    return found[:MAX_RUN_BUTTONS]


def title_of(a: AlertRecord, checks: CheckRegistry = HEALTH_CHECKS) -> str:
    """``Node NotReady: node/node-7 on prod``."""
    return f"{checks.title(a.check_name)}: {a.subject} on {a.cluster}"


def alert_report(
    a: AlertRecord, now: datetime, runbook_exists: RunbookExists, *, checks: CheckRegistry = HEALTH_CHECKS
) -> Report:
    """The message of an alert in its current state (firing, acked, silenced or resolved)."""
    resolved = a.state == "resolved"
    report = Report(
        title=("Resolved: " if resolved else f"[{a.severity}] ") + title_of(a, checks),
        tone=Tone.OK if resolved else TONE.get(a.severity, Tone.WARN),
        summary=a.summary,
    )
    end = a.resolved_at if resolved and a.resolved_at else now
    facts = report.section(tone=report.tone)
    facts.fields = [
        ("Where", f"cluster {a.cluster}"),
        ("Since", f"{a.since:%Y-%m-%d %H:%M} UTC ({human_duration(end - a.since)}" + (")" if resolved else " ago)")),
        ("Severity", a.severity),
        ("State", _state_text(a, now)),
    ]
    report.section("Why it matters").lines = [checks.why(a.check_name)]
    lines = list(a.details.get("lines") or [])
    if lines:
        report.section("Details").lines = lines
    runs = offered_runs(a, runbook_exists)
    if not resolved:
        likely = report.section("Likely runbook")
        likely.lines = [f"`{s['command']}`" for _, s in runs] or ["no built-in runbook fixes this; investigate"]
    report.context.append(f"alert {a.id} · check {a.check_name}")
    if not resolved:
        report.actions = _buttons(a, now, runs)
    return report


def _state_text(a: AlertRecord, now: datetime) -> str:
    if a.state == "resolved":
        when = f"{a.resolved_at:%Y-%m-%d %H:%M} UTC" if a.resolved_at else "now"
        return f"resolved {when}"
    parts = [a.state]
    if a.acked_by:
        parts.append(f"acked by {a.acked_by}")
    if a.silenced(now) and a.silenced_until:
        parts.append(f"silenced by {a.silenced_by} until {a.silenced_until:%Y-%m-%d %H:%M} UTC")
    return " · ".join(parts)


def _buttons(a: AlertRecord, now: datetime, runs: list[tuple[int, dict[str, Any]]]) -> list[Action]:
    actions = [
        Action(kind=f"alert_run_{i}", label=str(s["label"]), value=f"{a.id}:{i}", style=s.get("style")) for i, s in runs
    ]
    if not a.acked_by:
        actions.append(Action(kind="alert_ack", label="Ack", value=f"{a.id}:ack"))
    actions += [Action(kind=f"alert_silence_{k}", label=f"Silence {k}", value=f"{a.id}:{k}") for k in SILENCES]
    return actions


def resolved_text(a: AlertRecord) -> str:
    """The thread reply when an alert resolves."""
    lasted = human_duration((a.resolved_at or a.since) - a.since)
    return f":white_check_mark: Resolved: {a.summary} (lasted {lasted})"


def reminder_text(a: AlertRecord, now: datetime) -> str:
    """The thread reply re-notifying a firing alert."""
    return f":rotating_light: Still firing after {human_duration(now - a.since)}: {a.summary}"


def escalation_text(a: AlertRecord) -> str:
    """The thread reply when an alert's severity rises."""
    return f":rotating_light: Now {a.severity}: {a.summary}"
