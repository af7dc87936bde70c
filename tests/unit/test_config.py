"""Settings: YAML + environment + secret files, with errors located in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.errors import ConfigError
from bot.store import LATEST_VERSION

REPO = Path(__file__).resolve().parents[2]


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNBOOK_BOT_SLACK__BOT_TOKEN", raising=False)
    settings = load_settings(REPO / "config" / "example.yaml")
    assert set(settings.clusters) == {"staging", "production"}
    assert settings.clusters["production"].environment == "production"
    assert settings.store.url.startswith("sqlite:")
    assert settings.identity.users


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("slack:\n  mode: socket\n  command: /k8s\n")
    monkeypatch.setenv("RUNBOOK_BOT_SLACK__MODE", "http")
    monkeypatch.setenv("RUNBOOK_BOT_STORE__URL", "sqlite:///other.db")
    s = load_settings(cfg)
    assert s.slack.mode == "http"
    assert s.slack.command == "/k8s"
    assert s.store.url == "sqlite:///other.db"


def test_secret_from_file_is_read_and_never_printed(tmp_path: Path) -> None:
    token = tmp_path / "bot-token"
    token.write_text("xoxb-1234-secret\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"slack:\n  bot_token_file: {token}\n")
    s = load_settings(cfg)
    assert s.slack.bot_token is not None
    assert s.slack.bot_token.get_secret_value() == "xoxb-1234-secret"
    assert "xoxb" not in repr(s)
    assert "xoxb" not in str(s.model_dump())


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("clusters:\n  prod:\n    contxt: admin@prod\n  Bad_Name: {}\nslack:\n  mode: carrier-pigeon\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    by_loc = {p.location: p for p in err.value.problems}
    assert by_loc["clusters.prod.contxt"].line == 3
    assert "unknown setting" in by_loc["clusters.prod.contxt"].message
    assert by_loc["slack.mode"].line == 6


def test_default_cluster_must_exist(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("clusters:\n  staging: {}\ndefault_cluster: prod\n")
    with pytest.raises(ConfigError, match="default_cluster"):
        load_settings(cfg)


def test_system_masters_mapping_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("identity:\n  users:\n    U1: {user: root, groups: [system:masters]}\n")
    with pytest.raises(ConfigError, match="system:masters"):
        load_settings(cfg)


def test_check_config_exits_nonzero_naming_file_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rb_dir = tmp_path / "runbooks"
    rb_dir.mkdir()
    (rb_dir / "oops.yaml").write_text(
        "name: oops\nsummary: s\nrisk: read\nparams:\n  node: {type: nodename}\nsteps:\n  - kubernetes.cordonn: {}\n"
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text("runbook_dirs: [runbooks]\n")
    code = main(["--config", str(cfg), "check-config"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{rb_dir / 'oops.yaml'}:5 [params.node.type]" in err


def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(REPO / "config" / "example.yaml"), "check-config"])
    out = capsys.readouterr()
    assert "configuration OK: 2 cluster(s) (staging, production)" in out.out
    assert code == 0


def test_check_config_changes_nothing_not_even_the_store_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    db = tmp_path / "bot.sqlite3"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"store: {{url: 'sqlite:///{db}'}}\n")
    code = main(["--config", str(cfg), "check-config"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"store: schema version 0; the next `serve` or `shell` migrates it to {LATEST_VERSION}" in out
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []


def test_config_may_follow_the_sub_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``runbook-bot check-config --config FILE`` (as the README writes it) reads FILE, like ``--config FILE check-config``."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("clusters:\n  after-sub: {}\n")
    assert main(["check-config", "--config", str(cfg)]) == 0
    assert "1 cluster(s) (after-sub)" in capsys.readouterr().out
    assert main(["--config", str(tmp_path / "missing.yaml"), "check-config", "--config", str(cfg)]) == 0
    assert main(["--config", str(cfg), "check-config"]) == 0
    assert "1 cluster(s) (after-sub)" in capsys.readouterr().out
