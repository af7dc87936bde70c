"""``hpa_maxed_out``: an autoscaler running at its maximum (and able to scale: max above min)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import ClusterSnapshot


def find_hpas_at_max(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """One finding per HPA at ``maxReplicas``, since its ScalingLimited condition began."""
    return [
        Finding(
            "hpa_maxed_out",
            f"hpa/{h.namespace}/{h.name}",
            f"HPA {h.name} in {h.namespace} runs {h.target} at its maximum of {h.maximum} replicas",
            settings.severity,
            h.limited_since,
        )
        for h in snap.hpas
        if h.maximum > h.minimum and h.current >= h.maximum
    ]


HPA_MAXED_OUT = Check(
    name="hpa_maxed_out",
    title="HPA at its maximum",
    why="The autoscaler wants more replicas than its maximum: load may exceed capacity.",
    duration=timedelta(minutes=15),
    severity="warning",
    resources=("horizontalpodautoscalers",),
    settings=CheckSettings,
    find=find_hpas_at_max,
)
