"""What a refused or failed request tells its requester, beyond the error itself.

A command typed in a Slack channel that no cluster lists in ``channels`` runs on the default
cluster. When such a command is refused (RBAC, an unknown node, an unreachable cluster), the answer
says which cluster it used and why — the requester may well have meant another one.
"""

from __future__ import annotations

from bot.config.settings import Settings
from bot.engine.engine import Engine, error_report
from bot.errors import EXPLAINED, BotError, DeniedError, NotFoundError, UserError
from bot.report import Report


def default_cluster_note(engine: Engine, text: str, channel: str | None) -> str | None:
    """``used cluster staging, the default — …`` when ``text`` in ``channel`` fell back to the default cluster."""
    settings: Settings = engine.settings
    if channel is None or len(settings.clusters) < 2:
        return None  # the shell (no channel), or nothing else it could have meant
    if any(channel in c.channels for c in settings.clusters.values()):
        return None  # a channel mapped to its cluster
    try:
        named = engine.parse(text).cluster
    except UserError:
        return None
    if named is not None:
        return None
    others = [name for name in settings.clusters if name != settings.default_cluster]
    alternatives = f" (also: {', '.join(others)})" if others else ""
    return (
        f"used cluster {settings.default_cluster}, the default — this channel is not mapped to a cluster; "
        f"add `--cluster NAME` to choose another{alternatives}"
    )


def _cluster_mattered(exc: BaseException) -> bool:
    """Was the error about something on the cluster (so a different cluster might have answered otherwise)?"""
    if isinstance(exc, NotFoundError):
        return exc.kind not in ("runbook", "cluster")
    return isinstance(exc, DeniedError) or (isinstance(exc, EXPLAINED) and not isinstance(exc, UserError))


def refusal_report(engine: Engine, exc: BaseException, ref: str, text: str, channel: str | None) -> Report:
    """``error_report`` plus, when it applies, which cluster the command used and why."""
    report = error_report(exc, ref)
    if isinstance(exc, BotError) and _cluster_mattered(exc):
        note = default_cluster_note(engine, text, channel)
        if note:
            report.section().lines.append(note)
    return report
