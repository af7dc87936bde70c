"""canary: every router against its real CRD on the real API server; the stored objects are checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from bot.config.settings import Settings
from bot.engine.bootstrap import Bot, build_bot
from tests.harness import canary_setup as cs
from tests.harness.control_plane import ControlPlane
from tests.harness.runs import plan_text, planned, read, run_change, who
from tests.harness.trust_setup import grant, settings_doc

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bot(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    grant(kube_api_client)
    cs.install_router_crds(kube_api_client)
    cs.grant_canary(kube_api_client)
    doc = settings_doc(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path_factory.mktemp('c') / 'b.db'}")
    doc["canary"] = {
        "apps": {
            "huge": {
                "router": "gateway",
                "route": "huge",
                "stable": "huge",
                "canary": "huge-next",
                "weight_total": 2_000_000,
            },
            "store": {"promote_image": True},
        }
    }
    b = build_bot(Settings(**doc))
    yield b
    b.close()


def co(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def route_weights(api: client.ApiClient, ns: str, name: str) -> list[list[int | None]]:
    obj = co(api).get_namespaced_custom_object("gateway.networking.k8s.io", "v1", ns, "httproutes", name)
    return [[b.get("weight") for b in r["backendRefs"]] for r in obj["spec"]["rules"]]


def test_gateway_httproute_split_promote_abort_and_status(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    cs.httproute(kube_api_client, namespace, "checkout", [("checkout", 100), ("checkout-canary", 0)])
    out, rec = planned(bot, f"canary checkout 90/10 -n {namespace}")
    text = plan_text(out.report)
    assert "Gateway API HTTPRoute" in text
    assert "found by backend names" in text
    assert "HTTPRoute checkout rule 2 (/): checkout 100 → 90 (100% → 90%), checkout-canary 0 → 10 (0% → 10%)" in text
    assert "the API server accepts this change (server-side dry run)" in text
    assert f"patch httproutes.gateway.networking.k8s.io `checkout` in namespace {namespace}" in text
    assert route_weights(kube_api_client, namespace, "checkout") == [[100], [100, 0]], "planning changes nothing"
    assert cs.writes_in(control_plane.read_audit_events(), namespace) == []
    assert len(cs.dry_runs_in(control_plane.read_audit_events(), namespace)) == 1

    run_change_from(bot, rec)
    assert route_weights(kube_api_client, namespace, "checkout") == [[100], [90, 10]], "rule 1 (/api) untouched"
    (write,) = cs.writes_in(control_plane.read_audit_events(), namespace)
    assert write["verb"] == "patch"
    assert write["impersonatedUser"]["username"] == "alice"
    assert write["impersonatedUser"]["extra"]["runbook-bot.run-id"] == [rec.id]

    status = read(bot, f"canary checkout status -n {namespace}")
    assert status.title == "Canary checkout: 90/10 (stable/canary)"
    assert "90 (90%)" in plan_text(status)
    assert "10 (10%)" in plan_text(status)

    run_change(bot, f"canary checkout promote -n {namespace}")
    assert route_weights(kube_api_client, namespace, "checkout") == [[100], [0, 100]]
    run_change(bot, f"canary checkout abort -n {namespace}")
    assert route_weights(kube_api_client, namespace, "checkout") == [[100], [100, 0]]
    again = bot.runs.request(f"canary checkout 100/0 -n {namespace}", who(bot, "U0ALICE"))
    assert again.ok
    assert not again.pending, "no change: nothing to confirm"
    assert again.report is not None
    assert again.report.title == "Canary checkout: already 100/0 (stable/canary) — nothing changed"


def run_change_from(bot: Bot, rec: Any) -> None:
    from tests.harness.runs import confirm_and_run

    _, final = confirm_and_run(bot, rec)
    assert final.state == "succeeded", final.outcome


def test_contour_httpproxy_warns_that_an_unweighted_service_gets_nothing(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient
) -> None:
    cs.httpproxy(kube_api_client, namespace, "cart", [("cart", None), ("cart-canary", None), ("cart-legacy", None)])
    before = read(bot, f"canary cart status -n {namespace}")
    assert "33 (33.3%)" in plan_text(before), "no weights at all: Contour splits evenly"
    out, rec = planned(bot, f"canary cart 80/20 -n {namespace}")
    text = plan_text(out.report)
    assert "cart-legacy has no weight — Contour gives a service without a weight 0% of the traffic" in text
    assert "HTTPProxy cart route 1 (/): cart 33 → 80 (33.3% → 80%), cart-canary 33 → 20 (33.3% → 20%)" in text
    run_change_from(bot, rec)
    obj = co(kube_api_client).get_namespaced_custom_object("projectcontour.io", "v1", namespace, "httpproxies", "cart")
    assert [s.get("weight") for s in obj["spec"]["routes"][0]["services"]] == [80, 20, None]
    assert read(bot, f"canary cart status -n {namespace}").title == "Canary cart: 80/20 (stable/canary)"
    run_change(bot, f"canary cart promote -n {namespace}")
    obj = co(kube_api_client).get_namespaced_custom_object("projectcontour.io", "v1", namespace, "httpproxies", "cart")
    assert [s.get("weight") for s in obj["spec"]["routes"][0]["services"]] == [0, 100, None]


def vs_weights(api: client.ApiClient, ns: str) -> list[int]:
    obj = co(api).get_namespaced_custom_object("networking.istio.io", "v1", ns, "virtualservices", "search")
    return [d["weight"] for d in obj["spec"]["http"][0]["route"]]


def test_istio_virtualservice_subsets(bot: Bot, namespace: str, kube_api_client: client.ApiClient) -> None:
    cs.virtualservice(kube_api_client, namespace, "search", "search", (100, 0))
    out, rec = planned(bot, f"canary search 90/10 -n {namespace}")
    assert "VirtualService search http route 1 (primary): search (subset stable) 100 → 90" in plan_text(out.report)
    run_change_from(bot, rec)
    assert vs_weights(kube_api_client, namespace) == [90, 10]
    assert read(bot, f"canary search status -n {namespace}").title == "Canary search: 90/10 (stable/canary)"
    run_change(bot, f"canary search promote -n {namespace}")
    assert vs_weights(kube_api_client, namespace) == [0, 100]
    run_change(bot, f"canary search abort -n {namespace}")
    assert vs_weights(kube_api_client, namespace) == [100, 0]


def test_promote_can_make_the_canary_the_new_stable_image(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    """canary.apps.store.promote_image: promote also gives deployment store the canary's image."""
    cs.httproute(kube_api_client, namespace, "store", [("store", 90), ("store-canary", 10)])
    cs.app_deployment(kube_api_client, namespace, "store", 2, {"app": "store"}, image="registry.local/store:1")
    cs.app_deployment(
        kube_api_client, namespace, "store-canary", 1, {"app": "store-canary"}, image="registry.local/store:2"
    )
    out, rec = planned(bot, f"canary store promote -n {namespace}")
    text = plan_text(out.report)
    assert "store 90 → 0 (90% → 0%), store-canary 10 → 100 (10% → 100%)" in text
    assert "deployment store container app: image registry.local/store:1 → registry.local/store:2" in text
    assert "send traffic back with `canary store 100/0` once it is ready" in text
    assert text.count("the API server accepts this change") == 2, "both writes dry-run"
    run_change_from(bot, rec)
    assert route_weights(kube_api_client, namespace, "store") == [[90], [0, 100]]
    dep = client.AppsV1Api(kube_api_client).read_namespaced_deployment("store", namespace)
    assert dep.spec.template.spec.containers[0].image == "registry.local/store:2"
    kinds = sorted(e["objectRef"]["resource"] for e in cs.writes_in(control_plane.read_audit_events(), namespace))
    assert kinds == ["deployments", "httproutes"]


def canary_annotations(api: client.ApiClient, ns: str) -> dict[str, str]:
    ann = client.NetworkingV1Api(api).read_namespaced_ingress("shop-canary", ns).metadata.annotations or {}
    return {k.rsplit("/", 1)[1]: v for k, v in ann.items() if k.startswith("nginx.ingress.kubernetes.io/")}


def test_ingress_nginx_canary_annotations(bot: Bot, namespace: str, kube_api_client: client.ApiClient) -> None:
    cs.ingress(kube_api_client, namespace, "shop", "shop")
    cs.ingress(
        kube_api_client,
        namespace,
        "shop-canary",
        "shop-canary",
        {"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "0"},
    )
    out, rec = planned(bot, f"canary shop 90/10 -n {namespace}")
    assert "Ingress shop-canary (canary of shop)" in plan_text(out.report)
    run_change_from(bot, rec)
    assert canary_annotations(kube_api_client, namespace) == {"canary": "true", "canary-weight": "10"}
    assert read(bot, f"canary shop status -n {namespace}").title == "Canary shop: 90/10 (stable/canary)"
    run_change(bot, f"canary shop abort -n {namespace}")
    assert canary_annotations(kube_api_client, namespace)["canary-weight"] == "0"


def replicas(api: client.ApiClient, ns: str) -> tuple[int, int]:
    apps = client.AppsV1Api(api)
    return (
        apps.read_namespaced_deployment("pay", ns).spec.replicas,
        apps.read_namespaced_deployment("pay-canary", ns).spec.replicas,
    )


def test_replica_fallback_says_how_coarse_the_split_is(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient
) -> None:
    cs.service(kube_api_client, namespace, "pay", {"app": "pay"})
    cs.app_deployment(kube_api_client, namespace, "pay", 4, {"app": "pay", "track": "stable"})
    cs.app_deployment(kube_api_client, namespace, "pay-canary", 0, {"app": "pay", "track": "canary"})
    out, rec = planned(bot, f"canary pay 90/10 -n {namespace}")
    text = plan_text(out.report)
    assert "replica ratio of two Deployments" in text
    assert "replicas can only approximate: 90/10 with 4 pods is 75/25 (3 stable, 1 canary)" in text
    assert "deployment pay 4 → 3 replicas, deployment pay-canary 0 → 1 replicas (total stays 4)" in text
    run_change_from(bot, rec)
    assert replicas(kube_api_client, namespace) == (3, 1)
    assert read(bot, f"canary pay status -n {namespace}").title == "Canary pay: 75/25 (stable/canary)"
    run_change(bot, f"canary pay promote -n {namespace}")
    assert replicas(kube_api_client, namespace) == (0, 4)
    run_change(bot, f"canary pay abort -n {namespace}")
    assert replicas(kube_api_client, namespace) == (4, 0)


def rollout_status(api: client.ApiClient, ns: str) -> dict[str, Any]:
    obj = co(api).get_namespaced_custom_object("argoproj.io", "v1alpha1", ns, "rollouts", "orders")
    return dict(obj.get("status") or {})


def test_argo_rollout_is_driven_through_its_status(bot: Bot, namespace: str, kube_api_client: client.ApiClient) -> None:
    cs.rollout(kube_api_client, namespace, "orders", step_index=1)
    assert read(bot, f"canary orders status -n {namespace}").title == "Canary orders: 90/10 (stable/canary)"
    refused = bot.runs.request(f"canary orders 70/30 -n {namespace}", who(bot, "U0ALICE"))
    assert not refused.ok
    assert "none ahead of step 2 sets the canary to 30%" in plan_text(refused.report)
    assert "its steps set 10%, 50%, 100%" in plan_text(refused.report)
    out, rec = planned(bot, f"canary orders 50/50 -n {namespace}")
    assert "moving Rollout" in plan_text(out.report)
    assert "step 3 (setWeight 50)" in plan_text(out.report)
    run_change_from(bot, rec)
    status = rollout_status(kube_api_client, namespace)
    assert status["currentStepIndex"] == 2
    assert "pauseConditions" not in status
    assert read(bot, f"canary orders status -n {namespace}").title == "Canary orders: 50/50 (stable/canary)"
    run_change(bot, f"canary orders promote -n {namespace}")
    assert rollout_status(kube_api_client, namespace)["promoteFull"] is True
    run_change(bot, f"canary orders abort -n {namespace}")
    assert rollout_status(kube_api_client, namespace)["abort"] is True


def test_flagger_is_refused_with_the_command_to_use(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient
) -> None:
    cs.flagger_canary(kube_api_client, namespace, "billing")
    out = bot.runs.request(f"canary billing promote -n {namespace}", who(bot, "U0ALICE"))
    text = plan_text(out.report)
    assert not out.ok
    assert "billing is managed by Flagger" in text
    assert f"kubectl -n {namespace} patch canary billing --type merge" in text
    assert "skipAnalysis" in text


@pytest.mark.parametrize(
    ("split", "why"),
    [
        ("90/20", "add up to 110, not 100"),
        ("-5/105", "each weight must be between 0 and 100"),
        ("x/y", "weights are whole numbers"),
        ("90/10/0", "it has 3 parts"),
    ],
)
def test_malformed_weights_are_refused_with_the_rule_and_change_nothing(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane, split: str, why: str
) -> None:
    cs.httproute(kube_api_client, namespace, "checkout", [("checkout", 100), ("checkout-canary", 0)])
    out = bot.runs.request(f"canary checkout {split} -n {namespace}", who(bot, "U0ALICE"))
    text = plan_text(out.report)
    assert not out.ok
    assert out.report is not None
    assert out.report.title == "Cannot read that command"
    assert why in text
    assert "two whole numbers from 0 to 100 that add up to 100" in text
    assert route_weights(kube_api_client, namespace, "checkout") == [[100], [100, 0]]
    events = control_plane.read_audit_events()
    assert cs.writes_in(events, namespace) == []
    assert cs.dry_runs_in(events, namespace) == []


def test_an_unknown_app_is_refused_with_close_names_and_changes_nothing(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    cs.httproute(kube_api_client, namespace, "checkout", [("checkout", 100), ("checkout-canary", 0)])
    out = bot.runs.request(f"canary checkuot 90/10 -n {namespace}", who(bot, "U0ALICE"))
    text = plan_text(out.report)
    assert not out.ok
    assert f"unknown canary app `checkuot` in namespace {namespace}" in text
    assert "did you mean `checkout`?" in text
    assert cs.writes_in(control_plane.read_audit_events(), namespace) == []


def test_a_weight_outside_the_crd_schema_is_refused_at_plan_time_by_the_server(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    """canary.apps.huge writes weights summing to 2,000,000; HTTPRoute allows at most 1,000,000 per backend."""
    cs.httproute(kube_api_client, namespace, "huge", [("huge", 1), ("huge-next", 1)])
    out = bot.runs.request(f"canary huge 0/100 -n {namespace}", who(bot, "U0ALICE"))
    text = plan_text(out.report)
    assert not out.ok
    assert "the API server would refuse the new weights of HTTPRoute" in text
    assert "weight in body should be less than or equal to 1000000" in text, text
    assert "server-side dry run" in text
    events = control_plane.read_audit_events()
    assert cs.writes_in(events, namespace) == [], "nothing but dry runs"
    (dry,) = cs.dry_runs_in(events, namespace)
    assert dry["responseStatus"]["code"] == 422
    assert dry["impersonatedUser"]["username"] == "alice"
    assert route_weights(kube_api_client, namespace, "huge") == [[1], [1, 1]]


def test_a_requester_without_rbac_is_refused_naming_the_permission(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    cs.httproute(kube_api_client, namespace, "checkout", [("checkout", 100), ("checkout-canary", 0)])
    out = bot.runs.request(f"canary checkout 90/10 -n {namespace}", who(bot, "U0MALLORY"))
    assert not out.ok
    assert out.report is not None
    assert out.report.title == "Not allowed"
    assert out.report.summary == (
        f"mallory may not patch httproutes.gateway.networking.k8s.io `checkout` in namespace {namespace} on cluster staging"
    )
    assert cs.writes_in(control_plane.read_audit_events(), namespace) == []
