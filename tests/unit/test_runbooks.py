"""Runbook files: loading, validation with file/line/field, and placeholder substitution."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.engine.runbook_loading import load_catalog, load_runbook
from bot.engine.runbooks import builtin_runbook_dir, substitute
from bot.errors import ConfigError
from bot.steps.registry import default_registry


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtin_runbooks_load() -> None:
    catalog = load_catalog([builtin_runbook_dir()], default_registry())
    assert {"help", "whoami", "status", "nodes", "pods"} <= set(catalog.names())
    assert catalog.get("pods") is not None
    assert catalog.get("pods").usage == "pods <node>"


def test_unknown_step_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "name: bad\nsummary: s\nrisk: read\nsteps:\n  - kubernetes.list_nodez: {}\n")
    with pytest.raises(ConfigError) as err:
        load_runbook(path, default_registry())
    (problem,) = err.value.problems
    assert problem.file == str(path)
    assert problem.line == 5
    assert problem.location == "steps[0]"
    assert "unknown step 'kubernetes.list_nodez'" in problem.message


def test_mistyped_parameter_type_names_the_field(tmp_path: Path) -> None:
    text = "name: bad\nsummary: s\nrisk: read\nparams:\n  node: {type: nod}\nsteps:\n  - kubernetes.pods_on_node: {node: '{node}'}\n"
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_runbook(path, default_registry())
    (problem,) = err.value.problems
    assert problem.location == "params.node.type"
    assert problem.line == 5
    assert "unknown parameter type" in problem.message


def test_misspelled_step_argument_is_reported(tmp_path: Path) -> None:
    text = "name: bad\nsummary: s\nrisk: read\nparams:\n  node: {type: node}\nsteps:\n  - kubernetes.pods_on_node: {nod: '{node}'}\n"
    with pytest.raises(ConfigError) as err:
        load_runbook(write(tmp_path, "bad.yaml", text), default_registry())
    messages = [p.message for p in err.value.problems]
    assert any("has no argument 'nod'" in m for m in messages)


def test_unknown_placeholder_is_reported(tmp_path: Path) -> None:
    text = "name: bad\nsummary: s\nrisk: read\nsteps:\n  - kubernetes.pods_on_node: {node: '{nodename}'}\n"
    with pytest.raises(ConfigError) as err:
        load_runbook(write(tmp_path, "bad.yaml", text), default_registry())
    assert "unknown placeholder {nodename}" in str(err.value)


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_runbook(write(tmp_path, "bad.yaml", "name: [unclosed\nsummary: x\n"), default_registry())
    assert err.value.problems[0].line is not None
    assert "invalid YAML" in err.value.problems[0].message


def test_every_problem_across_files_is_collected(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "name: a\nsummary: s\nrisk: readonly\nsteps:\n  - kubernetes.list_nodes: {}\n")
    write(tmp_path, "b.yaml", "name: b\nsummary: s\nrisk: read\nsteps: []\n")
    with pytest.raises(ConfigError) as err:
        load_catalog([tmp_path], default_registry())
    files = {Path(p.file).name for p in err.value.problems}
    assert files == {"a.yaml", "b.yaml"}


def test_reserved_parameter_names_are_refused(tmp_path: Path) -> None:
    text = "name: bad\nsummary: s\nrisk: read\nparams:\n  namespace: {type: namespace}\nsteps:\n  - kubernetes.list_nodes: {}\n"
    with pytest.raises(ConfigError, match="reserved"):
        load_runbook(write(tmp_path, "bad.yaml", text), default_registry())


def test_operator_runbook_overrides_builtin_by_name(tmp_path: Path) -> None:
    write(
        tmp_path, "nodes.yaml", "name: nodes\nsummary: our nodes\nrisk: read\nsteps:\n  - kubernetes.list_nodes: {}\n"
    )
    catalog = load_catalog([builtin_runbook_dir(), tmp_path], default_registry())
    assert catalog.get("nodes").summary == "our nodes"  # type: ignore[union-attr]


def test_substitution_keeps_types_for_whole_placeholders_and_never_evaluates() -> None:
    values = {"node": "node-1", "timeout": timedelta(minutes=5), "force": True}
    out = substitute(
        {
            "node": "{node}",
            "t": "{timeout}",
            "label": "node={node}",
            "f": "{force}",
            "literal": "{{not a placeholder}}",
            "nested": ["{node}", {"x": "{force}"}],
        },
        values,
    )
    assert out["node"] == "node-1"
    assert out["t"] == timedelta(minutes=5)
    assert out["label"] == "node=node-1"
    assert out["f"] is True
    assert out["literal"] == "{{not a placeholder}}"
    assert out["nested"] == ["node-1", {"x": True}]
