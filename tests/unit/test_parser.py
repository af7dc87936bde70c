"""The command parser: tokens, global options, binding to runbook parameters, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.engine.params import Weights, WorkloadName
from bot.engine.parser import bind, tokenize
from bot.engine.runbooks import Runbook
from bot.errors import ParseError

DRAIN = Runbook(
    name="drain",
    summary="drain a node",
    risk="destructive",
    params={
        "node": {"type": "node"},
        "timeout": {"type": "duration", "default": "10m"},
        "force": {"type": "bool"},
        "delete_emptydir_data": {"type": "bool"},
    },
    steps=[{"step": "kubernetes.pods_on_node", "args": {"node": "{node}"}}],
)
CANARY = Runbook(
    name="canary",
    summary="shift traffic",
    risk="change",
    params={"app": {"type": "workload"}, "weights": {"type": "weights"}},
    steps=[{"step": "kubernetes.list_nodes", "args": {}}],
)


def test_global_options_are_pulled_out_anywhere() -> None:
    line = tokenize("drain node-1 --cluster production -n payments --force")
    assert line.runbook == "drain"
    assert line.cluster == "production"
    assert line.namespace == "payments"
    assert line.tokens == ["node-1", "--force"]


def test_equals_forms_and_quotes() -> None:
    line = tokenize('drain "node-1" --cluster=staging --namespace=kube-system --timeout=90s')
    inv = bind(line, DRAIN)
    assert inv.values["node"] == "node-1"
    assert inv.values["timeout"] == timedelta(seconds=90)
    assert (inv.cluster, inv.namespace) == ("staging", "kube-system")


def test_bool_flags_default_false_and_dashes_map_to_underscores() -> None:
    inv = bind(tokenize("drain node-1 --delete-emptydir-data"), DRAIN)
    assert inv.values["delete_emptydir_data"] is True
    assert inv.values["force"] is False
    assert inv.values["timeout"] == timedelta(minutes=10)


def test_slack_smart_quotes_and_html_escapes() -> None:
    line = tokenize("drain \u201cnode-1\u201d --cluster staging &amp;&amp;")
    assert line.tokens[0] == "node-1"
    assert line.tokens[1] == "&&"


def test_missing_required_argument_names_it_with_usage() -> None:
    with pytest.raises(ParseError) as err:
        bind(tokenize("drain"), DRAIN)
    assert "<node>" in err.value.message
    assert err.value.hint is not None
    assert "drain <node>" in err.value.hint


def test_unknown_option_lists_the_known_ones() -> None:
    with pytest.raises(ParseError) as err:
        bind(tokenize("drain node-1 --frobnicate"), DRAIN)
    assert "--frobnicate" in err.value.message
    assert err.value.hint is not None
    assert "--force" in err.value.hint


def test_extra_positional_is_refused() -> None:
    with pytest.raises(ParseError, match="unexpected argument `node-2`"):
        bind(tokenize("drain node-1 node-2"), DRAIN)


@pytest.mark.parametrize(
    "text",
    [
        "canary checkout 90/20",
        "canary checkout -5/105",
        "canary checkout 90-10",
        "canary checkout 110/-10",
        "canary checkout 50.5/49.5",
    ],
)
def test_malformed_weights_are_refused(text: str) -> None:
    with pytest.raises(ParseError):
        bind(tokenize(text), CANARY)


def test_weights_and_workload_kinds_parse() -> None:
    inv = bind(tokenize("canary deploy/checkout 90/10"), CANARY)
    assert inv.values["weights"] == Weights(90, 10)
    assert inv.values["app"] == WorkloadName("Deployment", "checkout")


@pytest.mark.parametrize(
    "text",
    [
        "drain node-1;rm -rf /",
        "drain $(whoami)",
        "drain `id`",
        "drain ../../etc/passwd",
        "drain NODE-1",
        "drain node-1|cat",
        "drain 'node 1'",
    ],
)
def test_injection_attempts_are_invalid_names(text: str) -> None:
    with pytest.raises(ParseError):
        bind(tokenize(text), DRAIN)


def test_unbalanced_quote_and_control_characters() -> None:
    with pytest.raises(ParseError, match=r"quotes|cannot read"):
        tokenize('drain "node-1')
    with pytest.raises(ParseError, match="control characters"):
        tokenize("drain node-1\x00")


def test_overlong_command_is_refused() -> None:
    with pytest.raises(ParseError, match="limit"):
        tokenize("status " + "x" * 3000)


def test_bad_cluster_name_is_refused() -> None:
    with pytest.raises(ParseError, match="not a valid cluster name"):
        tokenize("status --cluster Prod_1")


def test_empty_command_is_help() -> None:
    assert tokenize("   ").runbook == "help"


def test_bad_duration_is_explained() -> None:
    with pytest.raises(ParseError) as err:
        bind(tokenize("drain node-1 --timeout soon"), DRAIN)
    assert err.value.hint is not None
    assert "10m" in err.value.hint
