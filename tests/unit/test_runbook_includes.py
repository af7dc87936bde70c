"""Runbook composition: ``- include: <runbook>`` inlines steps, takes over params, and fails with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.engine.parser import bind, tokenize
from bot.engine.runbook_loading import load_catalog, load_runbook
from bot.engine.runbooks import Runbook, RunbookCatalog, StepCall, builtin_runbook_dir
from bot.errors import ConfigError, ConfigProblem
from bot.steps.registry import default_registry

DRAIN_FLAGS = ["node", "force", "delete_emptydir_data", "ignore_daemonsets", "timeout", "grace_period"]

# replace-node as it was written before composition: the drain's six flags threaded by hand.
INLINE_REPLACE_NODE = """\
name: replace-node
summary: Drain a node, terminate its cloud instance so its group replaces it, wait for the new node, delete the old one
risk: destructive
params:
  node: {type: node, help: "the node to replace (AWS Auto Scaling, Azure VM scale set or Karpenter)"}
  force: {type: bool, help: "drain: also evict pods without a controller and orphaned DaemonSet pods"}
  delete_emptydir_data: {type: bool, help: "drain: also evict pods using emptyDir (their local data is lost)"}
  ignore_daemonsets: {type: bool, default: true, help: "drain: leave DaemonSet pods in place (default)"}
  timeout: {type: duration, default: 10m, help: "drain time limit"}
  grace_period: {type: integer, required: false, min: 0, max: 3600, help: "seconds each pod gets to terminate"}
  wait: {type: duration, default: 15m, help: "how long the replacement node may take to be Ready"}
steps:
  - cloud.claim_group: {node: "{node}"}
  - kubernetes.cordon: {node: "{node}"}
  - kubernetes.evict_pods:
      node: "{node}"
      force: "{force}"
      delete_emptydir_data: "{delete_emptydir_data}"
      ignore_daemonsets: "{ignore_daemonsets}"
      timeout: "{timeout}"
      grace_period: "{grace_period}"
  - cloud.terminate_instance: {node: "{node}"}
  - kubernetes.wait_replacement_node: {node: "{node}", timeout: "{wait}"}
  - kubernetes.delete_node: {node: "{node}"}
"""

HEAD = "summary: s\n"


def folder(tmp_path: Path, **files: str) -> Path:
    """A runbook folder holding ``name.yaml`` files (underscores in keys become dashes)."""
    out = tmp_path / "runbooks"
    out.mkdir(exist_ok=True)
    for name, text in files.items():
        (out / f"{name.replace('_', '-')}.yaml").write_text(text)
    return out


def problems_of(dirs: list[Path]) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as err:
        load_catalog(dirs, default_registry())
    return err.value.problems


def builtin() -> RunbookCatalog:
    return load_catalog([builtin_runbook_dir()], default_registry())


def get(catalog: RunbookCatalog, name: str) -> Runbook:
    runbook = catalog.get(name)
    assert runbook is not None
    return runbook


def test_replace_node_includes_drain_instead_of_threading_its_flags() -> None:
    doc = yaml.safe_load((builtin_runbook_dir() / "replace-node.yaml").read_text())
    assert {"include": "drain"} in doc["steps"]
    assert set(doc["params"]) == {"node", "wait"}, "the drain's flags are no longer declared again"
    assert "force" not in json.dumps(doc["steps"]), "nor threaded through by hand"


def test_composed_replace_node_equals_the_hand_threaded_one(tmp_path: Path) -> None:
    composed = get(builtin(), "replace-node")
    old = get(load_catalog([builtin_runbook_dir(), folder(tmp_path, replace_node=INLINE_REPLACE_NODE)],
                           default_registry()), "replace-node")  # fmt: skip
    assert composed.steps == old.steps
    assert composed.usage == old.usage
    assert composed.risk == old.risk
    assert list(composed.params) == list(old.params) == [*DRAIN_FLAGS, "wait"]
    for name, spec in old.params.items():
        assert composed.params[name].model_dump(exclude={"help"}) == spec.model_dump(exclude={"help"}), name


def test_included_steps_run_where_the_include_stands() -> None:
    catalog = builtin()
    drain = get(catalog, "drain")
    steps = [s.step for s in get(catalog, "replace-node").steps]
    assert steps == [
        "cloud.claim_group",
        *[s.step for s in drain.steps],
        "cloud.terminate_instance",
        "kubernetes.wait_replacement_node",
        "kubernetes.delete_node",
    ]
    assert get(catalog, "replace-node").steps[1:3] == drain.steps


def test_help_of_replace_node_still_lists_the_drain_flags_marked_as_drains() -> None:
    rb = get(builtin(), "replace-node")
    assert rb.usage == (
        "replace-node <node> [--force] [--delete-emptydir-data] [--no-ignore-daemonsets] [--timeout DURATION] "
        "[--grace-period INTEGER] [--wait DURATION]"
    )
    assert rb.params["node"].help.startswith("the node to replace")  # overridden help
    for flag in DRAIN_FLAGS[1:]:
        assert rb.params[flag].help.startswith("drain: "), flag
    assert not rb.params["wait"].help.startswith("drain")


def test_the_drain_flags_bind_on_the_including_runbook() -> None:
    rb = get(builtin(), "replace-node")
    inv = bind(tokenize("replace-node node-1 --force --no-ignore-daemonsets --timeout 5m --grace-period 30"), rb)
    assert inv.values["node"] == "node-1"
    assert inv.values["force"] is True
    assert inv.values["ignore_daemonsets"] is False
    assert inv.values["grace_period"] == 30
    assert inv.values["wait"].total_seconds() == 900


def test_an_override_replaces_only_the_fields_it_sets(tmp_path: Path) -> None:
    text = (
        "name: slow-drain\n" + HEAD + "risk: destructive\n"
        "params:\n  timeout: {type: duration, default: 1h}\n  note: {type: string, required: false}\n"
        "steps:\n  - include: drain\n  - bot.audit: {run: '{note}'}\n"
    )
    rb = get(load_catalog([builtin_runbook_dir(), folder(tmp_path, slow_drain=text)], default_registry()), "slow-drain")
    drain = get(builtin(), "drain")
    assert rb.params["timeout"].default == "1h"
    assert rb.params["timeout"].help == "drain: " + drain.params["timeout"].help
    assert list(rb.params) == [*DRAIN_FLAGS, "note"]
    assert [s.step for s in rb.steps] == ["kubernetes.cordon", "kubernetes.evict_pods", "bot.audit"]


def test_own_steps_may_use_the_included_parameters(tmp_path: Path) -> None:
    text = "name: drain-and-list\n" + HEAD + "risk: destructive\nsteps:\n  - include: drain\n"
    text += "  - kubernetes.pods_on_node: {node: '{node}'}\n"
    catalog = load_catalog([builtin_runbook_dir(), folder(tmp_path, drain_and_list=text)], default_registry())
    assert get(catalog, "drain-and-list").steps[-1] == StepCall(step="kubernetes.pods_on_node", args={"node": "{node}"})


def test_nested_includes_keep_the_innermost_origin_in_help(tmp_path: Path) -> None:
    outer = "name: outer\n" + HEAD + "risk: destructive\nsteps:\n  - include: replace-node\n"
    rb = get(load_catalog([builtin_runbook_dir(), folder(tmp_path, outer=outer)], default_registry()), "outer")
    assert rb.params["force"].help.startswith("drain: also evict")
    assert rb.params["wait"].help.startswith("replace-node: how long")
    assert rb.steps == get(builtin(), "replace-node").steps


def test_an_operator_runbook_of_the_same_name_is_what_gets_included(tmp_path: Path) -> None:
    mine = (
        "name: drain\n"
        + HEAD
        + "risk: change\nparams:\n  node: {type: node}\nsteps:\n  - kubernetes.cordon: {node: '{node}'}\n"
    )
    catalog = load_catalog([builtin_runbook_dir(), folder(tmp_path, drain=mine)], default_registry())
    assert [s.step for s in get(catalog, "replace-node").steps][1:2] == ["kubernetes.cordon"]
    assert "force" not in get(catalog, "replace-node").params


def test_unknown_include_names_file_line_and_closest_runbooks(tmp_path: Path) -> None:
    text = "name: mine\n" + HEAD + "risk: destructive\nsteps:\n  - kubernetes.list_nodes: {}\n  - include: dran\n"
    where = folder(tmp_path, mine=text)
    (problem,) = problems_of([builtin_runbook_dir(), where])
    assert problem.file == str(where / "mine.yaml")
    assert problem.line == 6
    assert problem.location == "steps[1].include"
    assert "unknown runbook 'dran'" in problem.message
    assert "drain" in problem.message


def test_include_cycle_is_an_error_at_the_include_line(tmp_path: Path) -> None:
    a = "name: a\n" + HEAD + "risk: read\nsteps:\n  - include: b\n"
    b = "name: b\n" + HEAD + "risk: read\nsteps:\n  - bot.runs:\n  - include: a\n"
    where = folder(tmp_path, a=a, b=b)
    problems = problems_of([where])
    cycle = [p for p in problems if "include cycle" in p.message]
    assert len(cycle) == 1
    assert cycle[0].message == "include cycle: a → b → a"
    assert (cycle[0].file, cycle[0].line, cycle[0].location) == (str(where / "b.yaml"), 6, "steps[1].include")
    assert all(p.line is not None for p in problems)


def test_a_runbook_including_itself_is_a_cycle(tmp_path: Path) -> None:
    where = folder(tmp_path, me="name: me\n" + HEAD + "risk: read\nsteps:\n  - include: me\n")
    (problem,) = problems_of([where])
    assert problem.message == "include cycle: me → me"
    assert problem.line == 5


def test_a_runbook_cannot_be_less_risky_than_what_it_includes(tmp_path: Path) -> None:
    where = folder(tmp_path, sneaky="name: sneaky\n" + HEAD + "risk: read\nsteps:\n  - include: drain\n")
    (problem,) = problems_of([builtin_runbook_dir(), where])
    assert (problem.location, problem.line) == ("risk", 3)
    assert "lower than that of the included runbook 'drain' (destructive)" in problem.message


def test_an_override_must_keep_the_parameter_type(tmp_path: Path) -> None:
    text = (
        "name: mine\n" + HEAD + "risk: destructive\nparams:\n  timeout: {type: integer}\nsteps:\n  - include: drain\n"
    )
    where = folder(tmp_path, mine=text)
    (problem,) = problems_of([builtin_runbook_dir(), where])
    assert (problem.file, problem.line, problem.location) == (str(where / "mine.yaml"), 5, "params.timeout.type")
    assert "an override must keep its type (not integer)" in problem.message


def test_an_override_that_breaks_the_merged_parameter_is_reported(tmp_path: Path) -> None:
    text = "name: mine\n" + HEAD + "risk: destructive\nparams:\n  grace_period: {type: integer, default: 99999}\n"
    text += "steps:\n  - include: drain\n"
    (problem,) = problems_of([builtin_runbook_dir(), folder(tmp_path, mine=text)])
    assert (problem.line, problem.location) == (5, "params.grace_period")
    assert problem.message == "override of 'grace_period': invalid default: default must be at most 3600, not 99999"


def test_including_an_invalid_runbook_says_so_and_its_own_problem_is_listed(tmp_path: Path) -> None:
    broken = "name: base\n" + HEAD + "risk: read\nsteps:\n  - kubernetes.list_nodez: {}\n"
    user = "name: user\n" + HEAD + "risk: read\nsteps:\n  - include: base\n"
    problems = problems_of([folder(tmp_path, base=broken, user=user)])
    assert {Path(p.file).name for p in problems} == {"base.yaml", "user.yaml"}
    (about_include,) = [p for p in problems if p.file.endswith("user.yaml")]
    assert "runbook 'base' has problems of its own" in about_include.message
    assert about_include.line == 5


def test_unknown_placeholder_in_an_including_runbook_points_at_its_line(tmp_path: Path) -> None:
    text = "name: mine\n" + HEAD + "risk: destructive\nsteps:\n  - include: drain\n"
    text += "  - kubernetes.pods_on_node: {node: '{nodename}'}\n"
    (problem,) = problems_of([builtin_runbook_dir(), folder(tmp_path, mine=text)])
    assert (problem.line, problem.location) == (6, "steps[1].kubernetes.pods_on_node.node")
    assert "unknown placeholder {nodename}" in problem.message
    assert "grace_period" in problem.message


def test_a_single_file_cannot_include_what_was_not_loaded(tmp_path: Path) -> None:
    path = (
        folder(tmp_path, mine="name: mine\n" + HEAD + "risk: destructive\nsteps:\n  - include: drain\n") / "mine.yaml"
    )
    with pytest.raises(ConfigError, match="unknown runbook 'drain'"):
        load_runbook(path, default_registry())


@pytest.mark.parametrize(
    ("entry", "location", "line", "message"),
    [
        ("  - include: Drain\n", "steps[0].include", 5, "should match pattern"),
        ("  - include: drain\n    extra: 1\n", "steps[0].extra", 6, "unknown field"),
        ("  - include: [drain]\n", "steps[0].include", 5, "valid string"),
    ],
)
def test_malformed_include_entries_name_the_field(
    tmp_path: Path, entry: str, location: str, line: int, message: str
) -> None:
    where = folder(tmp_path, mine="name: mine\n" + HEAD + "risk: destructive\nsteps:\n" + entry)
    (problem,) = problems_of([builtin_runbook_dir(), where])
    assert (problem.location, problem.line) == (location, line)
    assert message in problem.message


def test_a_source_key_in_a_runbook_file_is_an_unknown_field(tmp_path: Path) -> None:
    where = folder(tmp_path, mine="name: mine\n" + HEAD + "risk: read\nsource: x\nsteps:\n  - bot.runs:\n")
    (problem,) = problems_of([where])
    assert (problem.location, problem.line, problem.message) == ("source", 4, "unknown field (check the spelling)")
