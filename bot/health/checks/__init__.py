"""The health checks: one ``Check`` definition per check, one registry, and what they share.

Below ``bot.steps`` (the ``health`` runbook uses it; it never imports steps or the engine):

- ``check`` — ``Check`` (name, title, why, default duration and severity, resources read, its
  own settings model, the function from snapshot to findings) and ``CheckSettings``;
- one module per check (or per small family sharing code: ``pod_problems``, ``control_plane``);
- ``builtin`` — ``HEALTH_CHECKS``, the one registry listing them; ``registry`` — what it
  answers: effective settings (defaults + ``health.checks`` overrides) and their validation;
- ``snapshot`` / ``facts`` — one paginated list per resource type the enabled checks read;
- ``evaluation`` — every enabled check against one snapshot; ``findings`` — what they report;
- ``digest`` — the digest report; ``backups`` — where the newest etcd backup is found.
"""

from bot.health.checks.backups import backup_status
from bot.health.checks.builtin import HEALTH_CHECKS
from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.cluster_unreachable import CLUSTER_UNREACHABLE, unreachable
from bot.health.checks.digest import ClusterGlance, digest_report, glance
from bot.health.checks.evaluation import evaluate
from bot.health.checks.findings import SEVERITY_RANK, BackupStatus, Evaluation, Finding, SuggestedRun
from bot.health.checks.registry import CheckRegistry, ChecksConfig, SettingsProblem
from bot.health.checks.snapshot import ClusterSnapshot, ClusterUnreachable, take_snapshot

__all__ = [
    "CLUSTER_UNREACHABLE",
    "HEALTH_CHECKS",
    "SEVERITY_RANK",
    "BackupStatus",
    "Check",
    "CheckRegistry",
    "CheckSettings",
    "ChecksConfig",
    "ClusterGlance",
    "ClusterSnapshot",
    "ClusterUnreachable",
    "Evaluation",
    "Finding",
    "SettingsProblem",
    "SuggestedRun",
    "backup_status",
    "digest_report",
    "evaluate",
    "glance",
    "take_snapshot",
    "unreachable",
]
