"""The runbook JSON Schema: generated from the models, current in docs/, and in agreement with the loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from bot.engine.runbook_loading import load_catalog
from bot.engine.runbook_schema import runbook_schema
from bot.engine.runbooks import builtin_runbook_dir
from bot.errors import ConfigError
from bot.steps.registry import default_registry

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(builtin_runbook_dir().glob("*.yaml"))
HEAD = "name: mine\nsummary: s\nrisk: destructive\n"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return runbook_schema(default_registry())


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


def schema_errors(validator: Draft202012Validator, text: str) -> list[str]:
    return [e.message for e in validator.iter_errors(yaml.safe_load(text))]


def test_the_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_schema_in_docs_is_the_generated_one(schema: dict[str, Any]) -> None:
    committed = json.loads((REPO / "docs" / "runbook.schema.json").read_text())
    assert committed == schema, "regenerate it: runbook-bot schema > docs/runbook.schema.json"


def test_every_registered_step_has_its_arguments_in_the_schema(schema: dict[str, Any]) -> None:
    registry = default_registry()
    compact = schema["$defs"]["CompactStep"]["properties"]
    assert set(compact) == {"include", *registry.names()}
    assert schema["$defs"]["StepCall"]["properties"]["step"]["enum"] == registry.names()
    evict = schema["$defs"]["args.kubernetes.evict_pods"]
    assert evict["required"] == ["node"]
    assert evict["additionalProperties"] is False
    assert evict["properties"]["timeout"]["default"] == "10m"
    assert evict["properties"]["force"]["description"].startswith("also evict pods without a controller")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_runbook_validates(validator: Draft202012Validator, path: Path) -> None:
    assert schema_errors(validator, path.read_text()) == []


def test_every_shipped_runbook_names_the_schema_for_editors() -> None:
    for path in SHIPPED:
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../docs/runbook.schema.json", path.name
        assert (path.parent / "../docs/runbook.schema.json").resolve().is_file()


# (case, steps and params after the header, location the loader reports, line, what the schema says)
BROKEN = [
    ("wrong step name", "steps:\n  - kubernetes.cordonx: {node: n}\n", "steps[0]", 5, "'kubernetes.cordonx' was unexpected"),
    ("unknown argument", "steps:\n  - kubernetes.cordon: {node: n, nod: m}\n", "steps[0].kubernetes.cordon.nod", 5,
     "'nod' was unexpected"),
    ("wrong type", "steps:\n  - bot.runs: {limit: many}\n", "steps[0].bot.runs.limit", 5, "not valid under any"),
    ("out of range", "steps:\n  - bot.runs: {limit: 500}\n", "steps[0].bot.runs.limit", 5, "not valid under any"),
    ("not a duration", "steps:\n  - kubernetes.evict_pods: {node: n, timeout: 10 minutes}\n",
     "steps[0].kubernetes.evict_pods.timeout", 5, "not valid under any"),
    ("missing step argument", "steps:\n  - kubernetes.cordon: {}\n", "steps[0].kubernetes.cordon.node", 5,
     "'node' is a required property"),
    ("unknown parameter type", "params:\n  x: {type: nod}\nsteps:\n  - bot.runs:\n", "params.x.type", 5,
     "'nod' is not one of"),
    ("reserved parameter", "params:\n  namespace: {type: namespace}\nsteps:\n  - bot.runs:\n", "params", 5,
     "should not be valid"),
    ("malformed default", "params:\n  t: {type: duration, default: soon}\nsteps:\n  - bot.runs:\n", "params.t", 5,
     "not valid under any"),
    ("choice without choices", "params:\n  c: {type: choice}\nsteps:\n  - bot.runs:\n", "params.c", 5,
     "'choices' is a required property"),
    ("bad include name", "steps:\n  - include: Drain\n", "steps[0].include", 5, "does not match"),
    ("unknown top-level field", "owner: me\nsteps:\n  - bot.runs:\n", "owner", 4, "'owner' was unexpected"),
    ("no steps", "steps: []\n", "steps", 4, "should be non-empty"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "location", "line", "says"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_runbook_fails_the_schema_and_check_config_at_its_line(
    validator: Draft202012Validator, tmp_path: Path, case: str, body: str, location: str, line: int, says: str
) -> None:
    text = HEAD + body
    errors = schema_errors(validator, text)
    assert any(says in e for e in errors), (case, errors)
    (tmp_path / "mine.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_catalog([builtin_runbook_dir(), tmp_path], default_registry())
    assert [(p.file, p.line, p.location) for p in err.value.problems] == [(str(tmp_path / "mine.yaml"), line, location)]


def test_a_missing_required_field_fails_both(validator: Draft202012Validator, tmp_path: Path) -> None:
    text = "name: mine\nrisk: read\nsteps:\n  - bot.runs:\n"
    assert "'summary' is a required property" in schema_errors(validator, text)
    (tmp_path / "mine.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_catalog([tmp_path], default_registry())
    (problem,) = err.value.problems
    assert (problem.location, problem.message) == ("summary", "Field required")


ACCEPTED = [
    ("placeholder for a boolean", "params:\n  f: {type: bool}\nsteps:\n  - kubernetes.delete_pod: "
     "{pod: p, namespace: '{namespace}', force: '{f}'}\n"),
    ("placeholder inside a text", "params:\n  r: {type: string}\nsteps:\n  - bot.audit: {run: 'run-{r}'}\n"),
    ("duration written as 10m", "steps:\n  - kubernetes.evict_pods: {node: n, timeout: 10m}\n"),
    ("duration in seconds", "steps:\n  - kubernetes.evict_pods: {node: n, timeout: 90}\n"),
    ("long form", "steps:\n  - {step: bot.runs, args: {limit: 3}}\n"),
    ("no arguments at all", "steps:\n  - kubernetes.list_nodes:\n"),
    ("include with an override", "params:\n  timeout: {type: duration, default: 1h}\nsteps:\n  - include: drain\n"),
    ("typed defaults", "params:\n  count: {type: integer, default: 3, min: 1}\n  b: {type: bool, default: true}\n"
     "  c: {type: choice, choices: [a, b], default: a}\nsteps:\n  - bot.runs: {limit: '{count}'}\n"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_what_the_loader_accepts_the_schema_accepts(
    validator: Draft202012Validator, tmp_path: Path, case: str, body: str
) -> None:
    text = HEAD + body
    assert schema_errors(validator, text) == [], case
    (tmp_path / "mine.yaml").write_text(text)
    assert load_catalog([builtin_runbook_dir(), tmp_path], default_registry()).get("mine") is not None
