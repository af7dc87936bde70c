"""The Helm chart: lints, renders, applies to the real API server, and grants least privilege."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from bot.config import load_settings
from tests.harness.control_plane import ControlPlane
from tests.harness.helm_chart import (
    CHART,
    HA,
    SOCKET,
    apply,
    by_kind,
    container_env,
    delete_cluster_scoped,
    helm,
    install_servicemonitor_crd,
    kubectl,
    service_account_may,
)
from tests.harness.helm_chart import render as render_chart
from tests.harness.kwok_nodes import unique_name, wait_for

pytestmark = pytest.mark.integration
IDENTITY = [
    "--set",
    "config.identity.users.U0ALICE.user=alice",
    "--set",
    "config.identity.users.U0ALICE.groups={oncall,sre}",
    "--set",
    "config.identity.user_groups.S0ONCALL={oncall}",
]


def render(namespace: str, *extra: str) -> list[dict[str, Any]]:
    return render_chart("rb", namespace, *IDENTITY, *extra)


def test_chart_lints() -> None:
    assert "0 chart(s) failed" in helm("lint", str(CHART), *IDENTITY)


def test_cluster_role_has_no_wildcards_and_scopes_impersonation() -> None:
    docs = render("ops")
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"]
        assert "*" not in rule["resources"]
        assert "*" not in rule.get("apiGroups", [])
        assert not {"pods/exec", "secrets"} & set(rule["resources"])
        if rule["verbs"] == ["impersonate"] and rule["resources"] in (["users"], ["groups"]):
            assert rule["resourceNames"], "impersonation must be limited to the mapped names"
    users = next(r for r in role["rules"] if r["resources"] == ["users"])
    groups = next(r for r in role["rules"] if r["resources"] == ["groups"])
    assert users["resourceNames"] == ["alice"]
    assert groups["resourceNames"] == ["oncall", "sre"]


def loadable_config(docs: list[dict[str, Any]], folder: Path) -> Path:
    """The rendered config.yaml, its Slack secret files pointed at local files, written into ``folder``."""
    cfg = yaml.safe_load(by_kind(docs)["ConfigMap"]["data"]["config.yaml"])
    for key in ("bot_token_file", "signing_secret_file"):
        secret = folder / key
        secret.write_text("xoxb-not-real" if key == "bot_token_file" else "s")
        cfg["slack"][key] = str(secret)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_rendered_config_is_valid_for_the_bot(tmp_path: Path) -> None:
    settings = load_settings(loadable_config(render("ops"), tmp_path))
    assert settings.clusters["local"].in_cluster
    assert settings.slack.missing_for_mode() == []
    assert settings.store.url == "sqlite:////var/lib/runbook-bot/data/runbook-bot.sqlite3"  # on the volume


def test_the_bot_accepts_the_environment_the_chart_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render("ops", *HA)
    env = container_env(docs)
    for name, value in env.items():
        if isinstance(value, str) and name != "RUNBOOK_BOT_CONFIG":
            monkeypatch.setenv(name, value)
    # The Secret's value as the kubelet would put it in RUNBOOK_BOT_STORE__URL: it wins over the file.
    assert env["RUNBOOK_BOT_STORE__URL"] == {"secretKeyRef": {"name": "runbook-bot-db", "key": "dsn"}}
    monkeypatch.setenv("RUNBOOK_BOT_STORE__URL", "postgresql+psycopg://bot@db.example/runbook_bot")
    settings = load_settings(loadable_config(docs, tmp_path))
    assert settings.store.url == "postgresql+psycopg://bot@db.example/runbook_bot"
    assert settings.execution.shutdown_grace_seconds == float(env["RUNBOOK_BOT_EXECUTION__SHUTDOWN_GRACE_SECONDS"])


def test_manifests_apply_and_the_service_account_gets_only_what_it_needs(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    apply(control_plane, namespace, render(namespace), tmp_path)
    may = service_account_may(kube_api_client, namespace, "rb")

    assert may("create", "subjectaccessreviews", group="authorization.k8s.io")
    assert may("impersonate", "users", name="alice")
    assert may("impersonate", "groups", name="sre")
    assert may("impersonate", "userextras", group="authentication.k8s.io", sub="runbook-bot.run-id")
    assert not may("impersonate", "users", name="mallory")
    assert not may("impersonate", "groups", name="system:masters")
    assert not may("impersonate", "serviceaccounts", name="default")
    assert not may("list", "secrets")
    assert not may("create", "pods", sub="exec")
    assert not may("delete", "nodes")


@pytest.mark.parametrize(
    ("case", "values"),
    [
        ("default", []),
        ("ha-postgresql", [*HA, "--set", "metrics.serviceMonitor.enabled=true"]),
        (
            "socket-mode",
            [*SOCKET, "--set", "slack.create=true", "--set", "slack.botToken=xoxb-x", "--set", "slack.appToken=xapp-x"],
        ),
    ],
)
def test_values_apply_server_side_to_the_real_api_server(
    control_plane: ControlPlane,
    kube_api_client: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    case: str,
    values: list[str],
) -> None:
    release = unique_name("rb")
    helm("lint", str(CHART), *IDENTITY, *values)
    docs = render_chart(release, namespace, *IDENTITY, *values)
    if "ServiceMonitor" in by_kind(docs):
        install_servicemonitor_crd(control_plane)
    try:
        manifest = apply(control_plane, namespace, docs, tmp_path)
        stored = kubectl(control_plane, "get", "-n", namespace, "-f", str(manifest), "-o", "name")
        assert len(stored.split()) == len(docs), stored  # every rendered object is stored
        deployment = client.AppsV1Api(kube_api_client).read_namespaced_deployment(release, namespace)
        assert deployment.spec.template.spec.termination_grace_period_seconds == 60
        env = {e.name: e for e in deployment.spec.template.spec.containers[0].env}
        assert env["RUNBOOK_BOT_EXECUTION__SHUTDOWN_GRACE_SECONDS"].value == "50"
        _pdb_counts_the_bots_pods(kube_api_client, namespace, release, deployment.spec.replicas)
        if case == "default":
            claim = client.CoreV1Api(kube_api_client).read_namespaced_persistent_volume_claim(
                f"{release}-data", namespace
            )
            assert claim.spec.resources.requests["storage"] == "1Gi"
            assert deployment.spec.strategy.type == "Recreate"
        elif case == "ha-postgresql":
            assert deployment.spec.replicas == 2
            assert deployment.spec.strategy.type == "RollingUpdate"
            assert env["RUNBOOK_BOT_STORE__URL"].value_from.secret_key_ref.name == "runbook-bot-db"
            monitor = client.CustomObjectsApi(kube_api_client).get_namespaced_custom_object(
                "monitoring.coreos.com", "v1", namespace, "servicemonitors", release
            )
            assert monitor["spec"]["endpoints"][0] == {
                "port": "http",
                "path": "/metrics",
                "interval": "30s",
                "scrapeTimeout": "10s",
            }
        else:
            secret = client.CoreV1Api(kube_api_client).read_namespaced_secret(f"{release}-slack", namespace)
            assert sorted(secret.data) == ["app-token", "bot-token"]
    finally:
        delete_cluster_scoped(control_plane, docs)


def _pdb_counts_the_bots_pods(api: client.ApiClient, namespace: str, release: str, replicas: int) -> None:
    """The disruption controller finds the bot's pods through the PDB's selector."""
    policy = client.PolicyV1Api(api)

    def counted() -> client.V1PodDisruptionBudget | None:
        pdb = policy.read_namespaced_pod_disruption_budget(release, namespace)
        return pdb if pdb.status is not None and pdb.status.expected_pods == replicas else None

    pdb = wait_for(f"the PodDisruptionBudget to count the bot's {replicas} pod(s)", counted, 60)
    assert pdb.spec.max_unavailable == 1
