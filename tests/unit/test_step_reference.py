"""`runbook-bot steps`: every registered step, its parameters from its model, the permissions it plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from bot.engine.step_reference import ParamReference, StepReference, reference_json, render_text, step_reference
from bot.model import Permission
from bot.steps.base import Step, StepContext, StepPlan
from bot.steps.registry import StepRegistry, default_registry


def by_name() -> dict[str, StepReference]:
    return {r.name: r for r in step_reference(default_registry())}


def test_every_registered_step_is_listed_once_in_name_order() -> None:
    refs = step_reference(default_registry())
    assert [r.name for r in refs] == default_registry().names()
    assert all(r.summary for r in refs)


def test_evict_pods_parameters_come_from_its_model() -> None:
    params = {p.name: p for p in by_name()["kubernetes.evict_pods"].params}
    assert list(params) == ["node", "force", "delete_emptydir_data", "ignore_daemonsets", "timeout", "grace_period"]
    assert params["node"] == ParamReference("node", "string", True, None, "the node whose pods to evict", {})
    assert (params["force"].type, params["force"].default, params["force"].required) == ("boolean", False, False)
    assert params["ignore_daemonsets"].default is True
    assert params["timeout"].type == "duration"
    assert params["timeout"].default == "10m"
    assert params["timeout"].constraints == {"exclusive_minimum": "0s", "maximum": "6h"}
    assert params["grace_period"].type == "integer"
    assert params["grace_period"].default is None
    assert params["grace_period"].constraints == {"minimum": 0, "maximum": 3600}


def test_every_step_parameter_has_a_description() -> None:
    missing = [f"{r.name}.{p.name}" for r in step_reference(default_registry()) for p in r.params if not p.description]
    assert missing == [], "add Field(description=...) to these step parameters"


def test_permissions_name_the_target_argument_and_say_when_they_depend_on_it() -> None:
    refs = by_name()
    cordon = refs["kubernetes.cordon"]
    assert cordon.permissions == (Permission(verb="patch", resource="nodes", name="<node>"),)
    assert cordon.permissions_depend_on_target
    assert "get nodes <node>" in cordon.permissions_note
    delete_pod = refs["kubernetes.delete_pod"]
    assert delete_pod.permissions == (
        Permission(verb="delete", resource="pods", namespace="<namespace>", name="<pod>"),
    )
    evict = refs["kubernetes.evict_pods"]
    assert Permission(verb="create", resource="pods", subresource="eviction") in evict.permissions
    assert evict.permissions_depend_on_target
    nodes = refs["kubernetes.list_nodes"]
    assert not nodes.permissions_depend_on_target
    assert Permission(verb="list", resource="nodes") in nodes.permissions
    assert refs["bot.help"].permissions == ()


class _Computing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(description="how many")


class _ComputesOnItsArguments(Step[_Computing]):
    """A step whose static permissions compute on an argument."""

    name = "test.computes"
    Params = _Computing
    summary = "computes"

    def static_permissions(self, params: _Computing | None) -> list[Permission]:
        if params is None:
            return [Permission(verb="list", resource="pods")]
        return [Permission(verb="list", resource="pods", name=str(params.count + 1))]

    def plan(self, ctx: StepContext, params: _Computing) -> StepPlan:
        return StepPlan(description="nothing")


def test_a_step_that_cannot_take_sample_arguments_shows_its_target_free_permissions() -> None:
    (ref,) = step_reference(StepRegistry([_ComputesOnItsArguments()]))
    assert ref.permissions == (Permission(verb="list", resource="pods"),)
    assert ref.params == (ParamReference("count", "integer", True, None, "how many", {}),)


@pytest.mark.parametrize("width", [100, 80])
def test_text_fits_the_terminal_and_shows_every_step_and_parameter(width: int) -> None:
    refs = step_reference(default_registry())
    text = render_text(refs, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for r in refs:
        assert any(line.startswith(f"{r.name} — ") for line in lines), r.name
        for p in r.params:
            assert any(line.lstrip().startswith(p.name + " ") for line in lines), f"{r.name}.{p.name}"


def test_text_rows_read_as_name_type_default_description() -> None:
    lines = render_text(step_reference(default_registry())).splitlines()
    start = lines.index("kubernetes.evict_pods — evict a node's pods (kubectl drain semantics)")
    block = lines[start : lines.index("", start)]
    timeout = next(line for line in block if line.lstrip().startswith("timeout"))
    assert timeout.split()[:5] == ["timeout", "duration", "(0s,", "6h]", "10m"]
    assert "overall time limit" in timeout
    assert any(line.startswith("  permissions: list pods (cluster-wide); create pods/eviction") for line in block)
    assert any(line.startswith("  depends on the target: ") for line in block)
    nodes = lines[lines.index("kubernetes.list_nodes — list nodes") :]
    assert "  parameters: none" in nodes[:4]


def test_json_carries_the_same_reference() -> None:
    doc = json.loads(json.dumps(reference_json(step_reference(default_registry()))))
    steps = {s["name"]: s for s in doc["steps"]}
    assert list(steps) == default_registry().names()
    evict = steps["kubernetes.evict_pods"]
    timeout = next(p for p in evict["parameters"] if p["name"] == "timeout")
    assert timeout == {
        "name": "timeout",
        "type": "duration",
        "required": False,
        "default": "10m",
        "description": "overall time limit",
        "constraints": {"exclusive_minimum": "0s", "maximum": "6h"},
    }
    assert {"verb": "create", "resource": "pods", "subresource": "eviction"}.items() <= evict["permissions"][1].items()
    assert evict["permissions"][1]["text"] == "create pods/eviction (cluster-wide)"
    assert evict["permissions_depend_on_target"] is True
    assert steps["kubernetes.list_nodes"]["permissions_depend_on_target"] is False


def test_the_manual_shows_todays_steps_output() -> None:
    shown = (Path(__file__).resolve().parents[2] / "docs" / "runbooks" / "steps.txt").read_text(encoding="utf-8")
    expected = render_text(step_reference(default_registry()))
    assert shown == expected, "regenerate it: runbook-bot steps > docs/runbooks/steps.txt"


def test_the_readme_excerpt_is_todays_steps_output() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("$ runbook-bot steps\n", 1)[1].split("  ...\n", 1)[0]
    excerpt = "\n".join(line.removeprefix("  ") for line in block.splitlines()) + "\n"
    assert excerpt.startswith("kubernetes.cordon — cordon a node\n")
    assert excerpt in render_text(step_reference(default_registry())), (
        "update the README's excerpt of runbook-bot steps"
    )
