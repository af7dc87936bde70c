"""The operator's manual (docs/, mkdocs.yml): it builds with ``mkdocs build --strict`` (every link,
anchor and embedded file resolves), and what it shows is what the bot does — its examples load,
the README links to its pages, its alert rules use only metrics the bot exports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config.loader import load_settings
from bot.engine.runbook_loading import load_catalog
from bot.engine.runbooks import builtin_runbook_dir
from bot.metrics import REGISTRY
from bot.steps.registry import default_registry

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
FENCE = re.compile(r"^( *)```(yaml|json)\n(.*?)^\1```", re.S | re.M)


def fenced(lang: str) -> list[tuple[Path, str]]:
    """Every ``lang`` code block of the manual's pages (embedded files excepted)."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            indent, kind, body = match.groups()
            text = "\n".join(line[len(indent) :] for line in body.splitlines())
            if kind == lang and "--8<--" not in text:
                found.append((page, text))
    return found


def test_the_manual_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    site = tmp_path / "site"
    assert json.loads((site / "runbook.schema.json").read_text())["$schema"].startswith("https://json-schema.org/")
    for image in ("run-plan", "run-awaiting-approval", "run-running", "run-done", "app-home"):
        assert (site / "img" / f"{image}.png").stat().st_size > 10_000, image
    configuration = (site / "configure" / "configuration" / "index.html").read_text(encoding="utf-8")
    assert "leader_election" in configuration, "config/example.yaml is embedded, not referenced"


def test_every_yaml_and_json_example_parses() -> None:
    yaml_blocks, json_blocks = fenced("yaml"), fenced("json")
    assert len(yaml_blocks) > 15
    assert json_blocks
    for page, text in yaml_blocks:
        try:
            list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise AssertionError(f"{page.relative_to(REPO)}: {exc}\n{text}") from None
    for page, text in json_blocks:
        json.loads(text), page


def runbook_examples() -> list[dict[str, Any]]:
    """Runbooks shown in the manual: whole runbook files, and the chart's ``runbooks:`` values."""
    found = []
    for _, text in fenced("yaml"):
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and {"name", "steps"} <= set(doc):
                found.append(doc)
            if isinstance(doc, dict) and isinstance(doc.get("runbooks"), dict):
                found += [yaml.safe_load(t) for t in doc["runbooks"].values() if isinstance(t, str)]
    return found


def test_the_runbooks_the_manual_shows_load(tmp_path: Path) -> None:
    examples = runbook_examples()
    assert {"pods", "replace-node", "restart-ingress"} <= {rb["name"] for rb in examples}
    folder = tmp_path / "runbooks"
    folder.mkdir()
    for rb in examples:
        (folder / f"{rb['name']}.yaml").write_text(yaml.safe_dump(rb), encoding="utf-8")
    catalog = load_catalog([builtin_runbook_dir(), folder], default_registry())
    assert catalog.get("restart-ingress") is not None


def test_the_readme_links_to_pages_that_exist() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\((docs/[^)#]+)", readme) + re.findall(r'src="(docs/[^"]+)"', readme)
    assert len(targets) > 15
    for target in targets:
        assert (REPO / target).is_file(), target


def test_the_suggested_alert_rules_use_only_what_metrics_exports() -> None:
    rules = yaml.safe_load((DOCS / "operate" / "prometheus-rules.yaml").read_text(encoding="utf-8"))
    assert rules["kind"] == "PrometheusRule"
    exported = {m.name for m in REGISTRY.collect()}
    alerts = [r for group in rules["spec"]["groups"] for r in group["rules"]]
    assert len(alerts) >= 6
    for rule in alerts:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        for name in re.findall(r"\brunbook_bot_[a-z_]+", rule["expr"]):
            base = re.sub(r"_(bucket|count|sum|total)$", "", name)
            assert base in exported, f"{rule['alert']}: the bot exports no {name}"


def test_the_readmes_configuration_example_is_a_valid_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's "Configure" YAML goes through the bot's own loader (unknown keys are refused there)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = readme.split("## Configure", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    for name in [k for k in os.environ if k.startswith("RUNBOOK_BOT_")]:
        monkeypatch.delenv(name)
    (tmp_path / "bot.yaml").write_text(example, encoding="utf-8")
    settings = load_settings(tmp_path / "bot.yaml")
    assert settings.slack.listen_port == 3000
    assert settings.clusters["prod"].environment == "production"
    assert settings.identity.users["U0ALICE"].user == "alice"
