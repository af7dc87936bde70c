"""The author's sub-commands as real processes: steps, schema, check-config and startup on broken runbooks.

Each test runs ``python -m bot`` in its own working directory and checks output and exit code.
The shell test uses a kubeconfig naming a closed loopback port: ``help`` needs no cluster call.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from bot.steps.registry import default_registry

REPO = Path(__file__).resolve().parents[2]
DRAIN_FLAGS = ["--force", "--delete-emptydir-data", "--ignore-daemonsets", "--timeout DURATION", "--grace-period"]


def bot(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_BOT_")}
    env["KUBECONFIG"] = str(cwd / "kubeconfig")
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory with a config reading ``runbooks/`` and a loopback kubeconfig nobody serves."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again at once: nothing listens there
    (tmp_path / "kubeconfig").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "bot.yaml").write_text(
        "clusters:\n  local: {}\nstore:\n  url: sqlite:///bot.sqlite3\nrunbook_dirs: [runbooks]\n"
    )
    return tmp_path


def runbook(workdir: Path, name: str, text: str) -> Path:
    """Write ``runbooks/<name>.yaml``; the path as problems name it (relative to the config's folder)."""
    (workdir / "runbooks" / f"{name}.yaml").write_text(text)
    return Path("runbooks") / f"{name}.yaml"


def test_steps_prints_every_step_within_100_columns(workdir: Path) -> None:
    out = bot(workdir, "steps")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    for name in default_registry().names():
        assert any(line.startswith(f"{name} — ") for line in lines), name
    assert "timeout duration (0s, 6h] 10m overall time limit" in [" ".join(line.split()) for line in lines]


def test_steps_json_lists_every_step_with_parameters_and_permissions(workdir: Path) -> None:
    out = bot(workdir, "steps", "--json")
    assert out.returncode == 0, out.stderr
    steps = {s["name"]: s for s in json.loads(out.stdout)["steps"]}
    assert list(steps) == default_registry().names()
    cordon = steps["kubernetes.cordon"]
    assert cordon["parameters"] == [
        {
            "name": "node",
            "type": "string",
            "required": True,
            "default": None,
            "description": "the node to cordon or uncordon",
        }
    ]
    assert [p["text"] for p in cordon["permissions"]] == ["patch nodes `<node>` (cluster-wide)"]
    assert cordon["permissions_depend_on_target"] is True


def test_schema_prints_the_schema_every_shipped_runbook_validates_against(workdir: Path) -> None:
    out = bot(workdir, "schema")
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    assert schema == json.loads((REPO / "docs" / "runbook.schema.json").read_text())
    validator = Draft202012Validator(schema)
    for path in sorted((REPO / "runbooks").glob("*.yaml")):
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path.name
    broken = yaml.safe_load("name: x\nsummary: s\nrisk: read\nsteps:\n  - kubernetes.cordon: {node: n, nod: m}\n")
    assert list(validator.iter_errors(broken))


def test_check_config_points_at_each_broken_runbook_with_file_line_and_field(workdir: Path) -> None:
    unknown_arg = runbook(
        workdir, "typo", "name: typo\nsummary: s\nrisk: change\nsteps:\n  - kubernetes.cordon: {node: n, nod: m}\n"
    )
    unknown_include = runbook(workdir, "inc", "name: inc\nsummary: s\nrisk: destructive\nsteps:\n  - include: dran\n")
    cycle_a = runbook(workdir, "a", "name: a\nsummary: s\nrisk: read\nsteps:\n  - include: b\n")
    cycle_b = runbook(workdir, "b", "name: b\nsummary: s\nrisk: read\nsteps:\n  - bot.runs:\n  - include: a\n")
    out = bot(workdir, "--config", "bot.yaml", "check-config")
    assert out.returncode == 1
    err = out.stderr.splitlines()
    assert err[0] == "configuration is invalid (4 problems):"
    expected = [
        f"  {unknown_arg}:5 [steps[0].kubernetes.cordon.nod]: step kubernetes.cordon has no argument 'nod' "
        "(it takes: node)",
        f"  {unknown_include}:5 [steps[0].include]: cannot include: unknown runbook 'dran' (known: drain)",
        f"  {cycle_b}:6 [steps[1].include]: include cycle: a → b → a",
        f"  {cycle_a}:5 [steps[0].include]: cannot include 'b': it has problems (listed too)",
    ]
    assert sorted(err[1:]) == sorted(expected)
    assert out.stdout == ""


def test_check_config_accepts_an_operator_runbook_that_includes_a_builtin(workdir: Path) -> None:
    runbook(
        workdir,
        "drain-slowly",
        "name: drain-slowly\nsummary: drain with a longer timeout\nrisk: destructive\n"
        "params:\n  timeout: {type: duration, default: 1h}\nsteps:\n  - include: drain\n",
    )
    out = bot(workdir, "--config", "bot.yaml", "check-config")
    assert out.returncode == 0, out.stderr
    assert "drain-slowly" in out.stdout
    assert "configuration OK" in out.stdout


def test_startup_refuses_a_broken_runbook_naming_its_line(workdir: Path) -> None:
    path = runbook(workdir, "inc", "name: inc\nsummary: s\nrisk: read\nsteps:\n  - include: drain\n")
    out = bot(workdir, "--config", "bot.yaml", "shell", stdin="help\n")
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "configuration is invalid:",
        f"  {path}:3 [risk]: risk 'read' is lower than that of the included runbook 'drain' (destructive); "
        "a runbook is at least as risky as what it includes",
    ]
    assert not (workdir / "bot.sqlite3").exists(), "nothing started"


def test_help_replace_node_still_lists_the_drain_flags(workdir: Path) -> None:
    out = bot(workdir, "--config", "bot.yaml", "shell", stdin="help replace-node\n")
    assert out.returncode == 0, out.stderr
    usage = next(line for line in out.stdout.splitlines() if "Usage:" in line)
    for flag in [*DRAIN_FLAGS, "--wait DURATION"]:
        assert flag in usage, flag
    described = {line.split("`")[1]: line for line in out.stdout.splitlines() if line.lstrip().startswith("`")}
    for name in ("force", "delete_emptydir_data", "ignore_daemonsets", "timeout", "grace_period"):
        assert "): drain: " in described[name], described
    assert "): the node to replace" in described["node"]
