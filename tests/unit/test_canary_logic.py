"""Canary logic without a cluster: weights, replica ratios, percentages, per-router weight semantics."""

from __future__ import annotations

import pytest

from bot.config.canary import CanaryApp
from bot.engine.params import ParamSpec, parse_value, parse_weights
from bot.errors import ParseError
from bot.model import Weights
from bot.steps.canary.argo import canary_weight
from bot.steps.canary.contour import ContourRoutes
from bot.steps.canary.driver import BackendName, RuleWeights, change_lines, scaled
from bot.steps.canary.gateway import GatewayRoutes
from bot.steps.canary.istio import IstioRoutes, short_host
from bot.steps.canary.replicas import pods_for_exact, replica_counts

RULE = "two whole numbers from 0 to 100 that add up to 100"


@pytest.mark.parametrize(
    ("text", "expected"), [("90/10", (90, 10)), ("0/100", (0, 100)), ("100/0", (100, 0)), ("050/50", (50, 50))]
)
def test_valid_splits(text: str, expected: tuple[int, int]) -> None:
    assert parse_weights(text) == Weights(*expected)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("90/20", "add up to 110, not 100"),
        ("-5/105", "each weight must be between 0 and 100"),
        ("x/y", "weights are whole numbers"),
        ("90/10/0", "it has 3 parts"),
        ("90", "it has 1 parts"),
        ("9.5/90.5", "weights are whole numbers"),
        ("1000/0", "each weight must be between 0 and 100"),
    ],
)
def test_malformed_splits_state_the_rule(text: str, why: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_weights(text)
    assert why in err.value.message
    assert RULE in (err.value.hint or "")


def test_a_weights_parameter_may_also_take_its_listed_words() -> None:
    spec = ParamSpec(type="weights", choices=["promote", "abort", "status"])
    assert parse_value("action", spec, "promote") == "promote"
    assert parse_value("action", spec, "70/30") == Weights(70, 30)
    with pytest.raises(ParseError):
        parse_value("action", spec, "promot")
    with pytest.raises(ValueError, match="choices"):
        ParamSpec(type="integer", choices=["a"])


def test_weights_cannot_be_built_outside_the_rule() -> None:
    with pytest.raises(ValueError, match="not a split of 100"):
        Weights(90, 20)


@pytest.mark.parametrize(
    ("total", "split", "expected"),
    [
        (4, (90, 10), (3, 1)),
        (10, (90, 10), (9, 1)),
        (2, (50, 50), (1, 1)),
        (3, (0, 100), (0, 3)),
        (3, (100, 0), (3, 0)),
        (4, (1, 99), (1, 3)),
        (5, (60, 40), (3, 2)),
    ],
)
def test_replica_counts_keep_the_total_and_a_pod_on_each_asked_side(
    total: int, split: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert replica_counts(total, Weights(*split)) == expected


def test_pods_needed_for_an_exact_split() -> None:
    assert [pods_for_exact(Weights(*w)) for w in ((90, 10), (75, 25), (50, 50), (100, 0), (99, 1))] == [
        10,
        4,
        2,
        1,
        100,
    ]


def test_relative_weights_show_the_resulting_percentages() -> None:
    rule = RuleWeights("r", 90, 10, (("legacy", 100),))
    assert (rule.percent(90), rule.percent(10), rule.percent(100)) == ("45%", "5%", "50%")
    assert RuleWeights("r", 1, 2).percent(1) == "33.3%"
    assert RuleWeights("r", 0, 0).percent(0) == "–"
    lines = change_lines(
        [RuleWeights("HTTPRoute a rule 1", 1, 1)], [RuleWeights("HTTPRoute a rule 1", 90, 10)], "web", "web-canary"
    )
    assert lines == ["HTTPRoute a rule 1: web 1 → 90 (50% → 90%), web-canary 1 → 10 (50% → 10%)"]
    assert scaled(Weights(90, 10), 1000) == (900, 100)
    assert scaled(Weights(33, 67), 10) == (3, 7)


def test_unset_weights_per_router() -> None:
    assert GatewayRoutes().effective([None, 5]) == [1, 5], "Gateway API: unset is 1"
    assert ContourRoutes().effective([None, None]) == [50, 50], "Contour: none set splits evenly"
    assert ContourRoutes().effective([None, 5]) == [0, 5], "Contour: once one is set, unset gets nothing"
    assert IstioRoutes().effective([None]) == [100]


def test_backend_identities() -> None:
    assert GatewayRoutes().identity({"name": "web", "port": 80}, "shop") == BackendName("web")
    assert GatewayRoutes().identity({"name": "web", "namespace": "other"}, "shop") is None
    assert (
        GatewayRoutes().identity({"name": "web", "kind": "ServiceImport", "group": "multicluster.x-k8s.io"}, "shop")
        is None
    )
    assert short_host("web.shop.svc.cluster.local", "shop") == "web"
    assert short_host("web.other.svc", "shop") is None
    dest = {"destination": {"host": "web.shop.svc.cluster.local", "subset": "canary"}}
    assert IstioRoutes().identity(dest, "shop") == BackendName("web", "canary")


def test_contour_warns_about_services_left_without_a_weight() -> None:
    from bot.steps.canary.routes import _Rule

    rule = _Rule(0, "HTTPProxy a route 1", 0, 1, ["web", "web-canary", "legacy"], [None, None, None], [33, 33, 33])
    (warning,) = ContourRoutes().extra_warnings(rule, [90, 10, None])
    assert "legacy has no weight" in warning
    assert "0% of the traffic" in warning


def rollout(index: int, **status: object) -> dict[str, object]:
    steps = [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]
    return {
        "spec": {"strategy": {"canary": {"steps": steps}}},
        "status": {"currentStepIndex": index, "stableRS": "a", "currentPodHash": "b", **status},
    }


def test_argo_weight_follows_the_controllers_rule() -> None:
    assert canary_weight(rollout(0)) == 10
    assert canary_weight(rollout(1)) == 10, "a pause keeps the last setWeight"
    assert canary_weight(rollout(3)) == 50
    assert canary_weight(rollout(4)) == 100, "past the last step: fully promoted"
    assert canary_weight(rollout(3, abort=True)) == 0
    assert canary_weight(rollout(1, canary={"weights": {"canary": {"weight": 12}}})) == 12, "reported weights win"
    assert canary_weight({"status": {"stableRS": "a", "currentPodHash": "a"}}) == 0, "no update in progress"


def test_canary_app_settings_validate() -> None:
    with pytest.raises(ValueError, match="`route` needs `router`"):
        CanaryApp(route="web")
    assert CanaryApp(router="gateway", route="web", weight_total=1000).weight_total == 1000
