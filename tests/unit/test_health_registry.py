"""The registry of health checks: the one place a check is defined, read by settings, messages and docs."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.durations import parse_duration
from bot.engine.bootstrap import build_bot
from bot.errors import ConfigError
from bot.health.alerting.alert_messages import alert_report, title_of
from bot.health.checks import HEALTH_CHECKS, Check, CheckRegistry, CheckSettings, ClusterSnapshot, Finding, evaluate
from bot.health.checks.certificate_expiry import CERTIFICATE_EXPIRY
from bot.store import AlertRecord

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def readme_rows() -> dict[str, str]:
    """check name → its row in the manual's health table (docs/operate/health.md)."""
    text = (REPO / "docs" / "operate" / "health.md").read_text(encoding="utf-8")
    table = text.split("| check (`health.checks.<name>`)", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        match = re.match(r"\| `([a-z_]+)` \|", line)
        assert match, f"not a check row: {line}"
        rows[match.group(1)] = line
    return rows


def test_the_readme_lists_exactly_the_registered_checks_with_their_defaults() -> None:
    rows = readme_rows()
    assert list(rows) == HEALTH_CHECKS.names(), "same checks, same order"
    for check in HEALTH_CHECKS:
        cells = [c.strip() for c in rows[check.name].strip("|").split("|")]
        duration, severity = cells[2].split(" · ")
        assert (parse_duration(duration), severity) == (check.duration, check.severity), check.name
        defaults = check.configure()
        for extra in set(type(defaults).model_fields) - set(CheckSettings.model_fields):
            documented = re.search(rf"`{extra}` \(([^)]+)\)", cells[1])
            assert documented, f"{check.name}: `{extra}` and its default are not in the README row"
            assert readme_value(documented.group(1), getattr(defaults, extra)), f"{check.name}.{extra}"


def readme_value(text: str, value: object) -> bool:
    """Does the README's ``(7d)`` / ``(`a`, `b`)`` say ``value``?"""
    if isinstance(value, timedelta):
        return parse_duration(text) == value
    if isinstance(value, list | tuple):
        return [item.strip(" `") for item in text.split(",")] == list(value)
    return text.strip("`") == str(value)


def test_a_partial_override_keeps_the_checks_other_defaults_including_its_own_fields() -> None:
    checks = HEALTH_CHECKS.configure({"certificate_expiry": {"critical_before": "2d"}, "node_cordoned": {}})
    cert = checks.of(CERTIFICATE_EXPIRY)
    assert cert.critical_before == timedelta(days=2)
    assert cert.warn_before == timedelta(days=7)
    assert (cert.duration, cert.severity, cert.enabled) == (timedelta(0), "warning", True)
    assert checks.node_cordoned.duration == timedelta(hours=24)


def test_disabled_checks_do_not_list_what_only_they_read() -> None:
    everything = HEALTH_CHECKS.configure().resources()
    assert {"horizontalpodautoscalers", "jobs", "poddisruptionbudgets", "certificates"} <= everything
    fewer = HEALTH_CHECKS.configure({"hpa_maxed_out": {"enabled": False}, "job_failed": {"enabled": False}})
    assert everything - fewer.resources() == {"horizontalpodautoscalers", "jobs"}


def write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"store: {{url: 'sqlite:///{tmp_path}/s.sqlite3'}}\n"
        "health:\n"
        "  checks:\n"
        "    node_not_raedy: {duration: 5m}\n"
        "    certificate_expiry: {warn_before: soon}\n"
        "    node_pressure: {max_age: 1h}\n"
    )
    return cfg


def test_unknown_checks_and_bad_check_fields_are_located_and_refused_at_startup(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    settings = load_settings(cfg)  # the config layer alone cannot know the checks
    with pytest.raises(ConfigError) as err:
        build_bot(settings)
    shown = [str(p) for p in err.value.problems]
    assert shown == [
        f"{cfg}:4 [health.checks.node_not_raedy]: unknown setting (check the spelling): "
        "no health check 'node_not_raedy'; did you mean node_not_ready?",
        f"{cfg}:5 [health.checks.certificate_expiry.warn_before]: Value error, 'soon' is not a duration "
        "(use forms like 90s, 10m, 1h30m or 2d)",
        f"{cfg}:6 [health.checks.node_pressure.max_age]: unknown setting (check the spelling)",
    ]


def test_check_config_reports_them_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    assert main(["--config", str(cfg), "check-config"]) == 1
    err = capsys.readouterr().err
    assert "configuration is invalid (3 problems)" in err
    assert f"{cfg}:6 [health.checks.node_pressure.max_age]: unknown setting" in err
    assert not (tmp_path / "s.sqlite3").exists(), "refused before anything was opened"


def test_the_registry_refuses_a_check_twice_unknown_resources_and_bad_defaults() -> None:
    (first, *_) = HEALTH_CHECKS
    with pytest.raises(ValueError, match="registered twice"):
        CheckRegistry([first, first])
    with pytest.raises(ValueError, match="unknown or undeclared resources"):
        CheckRegistry([replace(first, resources=("cronjobs",))])
    with pytest.raises(ValueError, match="unknown or undeclared resources"):
        CheckRegistry([replace(first, keeps={"pods": lambda obj: obj})])
    with pytest.raises(ValueError, match="severity"):
        CheckRegistry([replace(first, severity="disaster")])  # type: ignore[arg-type]


def find_lonely_node(snap: ClusterSnapshot, settings: CheckSettings, now: datetime) -> list[Finding]:
    return [Finding("lonely_node", "cluster", "only one node", settings.severity)] if len(snap.nodes) == 1 else []


def test_a_registry_of_its_own_is_evaluated_configured_and_titled_from_its_definitions() -> None:
    lonely = Check(
        name="lonely_node",
        title="Single node",
        why="One node is no redundancy at all.",
        duration=timedelta(minutes=1),
        severity="info",
        resources=("nodes",),
        settings=CheckSettings,
        find=find_lonely_node,
    )
    registry = CheckRegistry([lonely])
    snap = ClusterSnapshot(cluster="c", taken_at=NOW)
    result = evaluate(snap, registry.configure({"lonely_node": {"severity": "critical"}}), NOW)
    assert (result.evaluated, result.findings) == ({"lonely_node"}, [])
    with pytest.raises(ValueError, match="unknown health check"):
        registry.configure({"node_not_ready": {}})
    alert = AlertRecord(
        id="a1",
        key="c/lonely_node/cluster",
        cluster="c",
        check_name="lonely_node",
        subject="cluster",
        severity="info",
        state="firing",
        summary="only one node",
        details={},
        since=NOW,
        first_seen=NOW,
        last_seen=NOW,
    )
    assert title_of(alert, registry) == "Single node: cluster on c"
    report = alert_report(alert, NOW, lambda _name: False, checks=registry)
    assert any("One node is no redundancy" in line for part in report.parts for line in getattr(part, "lines", []))
    assert title_of(alert) == "lonely_node: cluster on c", "the built-in registry does not know it"


def test_the_health_package_itself_imports_neither_layer() -> None:
    code = "import sys, bot.health; print(sorted(m for m in sys.modules if m.startswith('bot.health.')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_what_serve_loads_at_start_imports_no_cloud_or_etcd_sdk() -> None:
    """boto3, the Azure SDKs and gRPC are loaded by the first run that needs them: an idle bot does
    not pay their memory (grpc alone is ~9 MiB of RSS; docs/benchmarks.md#idle-bot)."""
    code = (
        "import sys, bot.cli, bot.health.checks\n"
        "from bot.steps.registry import default_registry\n"
        "default_registry()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'azure', 'grpc', 's3transfer'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
