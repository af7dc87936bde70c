"""``pdb_blocking``: a PodDisruptionBudget allowing no disruption while it covers pods."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import ClusterSnapshot


def find_blocking_pdbs(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    """One finding per PDB at 0 allowed disruptions, since its DisruptionAllowed turned False."""
    return [
        Finding(
            "pdb_blocking",
            f"pdb/{p.namespace}/{p.name}",
            f"PDB {p.name} in {p.namespace} allows 0 disruptions ({p.expected} pods covered)",
            settings.severity,
            p.blocked_since,
        )
        for p in snap.pdbs
        if p.allowed == 0 and p.expected > 0
    ]


PDB_BLOCKING = Check(
    name="pdb_blocking",
    title="PDB blocks disruptions",
    why="This PodDisruptionBudget allows no disruption: every drain and node replacement will block.",
    duration=timedelta(hours=1),
    severity="warning",
    resources=("poddisruptionbudgets",),
    settings=CheckSettings,
    find=find_blocking_pdbs,
)
