"""Health settings: durations, per-check defaults, routes, digests (cron + time zone), validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.config.health import HealthSettings
from bot.config.settings import Settings
from bot.errors import ConfigError
from bot.health.alerting.digest import due_fire_time, next_fire_time
from bot.health.alerting.lifecycle import alert_channel
from bot.health.checks import HEALTH_CHECKS


def test_defaults_follow_the_mixin_and_partial_overrides_keep_them() -> None:
    h = HealthSettings.model_validate({"checks": {"node_pressure": {"duration": "5m"}}})
    checks = HEALTH_CHECKS.configure(h.checks)
    assert checks.node_not_ready.duration == timedelta(minutes=15)
    assert checks.node_pressure.duration == timedelta(minutes=5)
    assert checks.node_pressure.severity == "info"
    assert checks.container_waiting.duration == timedelta(hours=1)
    assert checks.control_plane_quorum.severity == "critical"
    assert checks.certificate_expiry.warn_before == timedelta(days=7)


def settings(**health: object) -> Settings:
    return Settings(
        clusters={"prod": {"environment": "production", "channels": ["C0PROD"]}, "dev": {}},
        health=health,
    )


def test_routes_by_cluster_environment_and_severity() -> None:
    s = settings(
        routes=[
            {"clusters": ["env:production"], "severities": ["critical"], "channel": "C0PAGE"},
            {"clusters": ["prod"], "channel": "C0PRODALERTS"},
        ]
    )
    assert alert_channel(s, "prod", "critical") == "C0PAGE"
    assert alert_channel(s, "prod", "warning") == "C0PRODALERTS"
    assert alert_channel(s, "dev", "warning") is None, "no route and no channel of its own"
    assert alert_channel(settings(), "prod", "info") == "C0PROD", "default: the cluster's first channel"


def test_digest_cron_in_its_time_zone() -> None:
    s = settings(digests=[{"channel": "C0OPS", "cron": "0 9 * * mon-fri", "timezone": "Europe/Madrid"}])
    (d,) = s.health.digests
    friday_evening = datetime(2025, 3, 7, 18, 0, tzinfo=UTC)
    assert next_fire_time(d, friday_evening) == datetime(2025, 3, 10, 8, 0, tzinfo=UTC), "Monday 09:00 CET"
    summer = datetime(2025, 7, 1, 6, 0, tzinfo=UTC)
    assert next_fire_time(d, summer) == datetime(2025, 7, 1, 7, 0, tzinfo=UTC), "09:00 CEST"
    monday = datetime(2025, 3, 10, 8, 20, tzinfo=UTC)
    assert due_fire_time(d, monday) == datetime(2025, 3, 10, 8, 0, tzinfo=UTC), "20 minutes late: still due"
    assert due_fire_time(d, monday + timedelta(hours=2)) is None, "beyond the misfire grace"
    assert d.key == "C0OPS"


@pytest.mark.parametrize(
    ("yaml_text", "where", "message"),
    [
        (
            "health:\n  digests:\n    - {channel: C1, cron: '0 25 * * *'}\n",
            "health.digests[0]",
            "cron '0 25 * * *' is invalid",
        ),
        (
            "health:\n  digests:\n    - {channel: C1, timezone: Mars/Olympus}\n",
            "health.digests[0].timezone",
            "unknown time zone",
        ),
        (
            "health:\n  checks:\n    node_not_ready: {duration: soon}\n",
            "health.checks.node_not_ready.duration",
            "not a duration",
        ),
        ("health:\n  checks:\n    node_not_raedy: {duration: 5m}\n", "health.checks.node_not_raedy", "unknown setting"),
        ("health:\n  routes:\n    - {clusters: [nope], channel: C1}\n", "", "unknown cluster(s): nope"),
        (
            "health:\n  leader_election: {lease_duration_seconds: 5, renew_deadline_seconds: 8}\n",
            "health.leader_election",
            "renew_deadline_seconds < lease_duration_seconds",
        ),
    ],
)
def test_invalid_health_settings_are_located(tmp_path: Path, yaml_text: str, where: str, message: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("clusters:\n  prod: {}\n" + yaml_text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, [HEALTH_CHECKS.settings_problems])
    problems = [p for p in err.value.problems if message in p.message]
    assert problems, err.value.problems
    assert problems[0].location == where
    if where:
        assert problems[0].line is not None
        assert problems[0].line >= 3
