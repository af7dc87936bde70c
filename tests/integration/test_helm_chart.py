"""The Helm chart: lints, renders, applies to the real API server, and grants least privilege."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from bot.config import load_settings
from tests.harness.control_plane import ControlPlane
from tests.harness.helm_chart import CHART, apply, helm, service_account_may
from tests.harness.helm_chart import render as render_chart

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
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule.get("apiGroups", [])
        assert not {"pods/exec", "secrets"} & set(rule["resources"])
        if rule["verbs"] == ["impersonate"] and rule["resources"] in (["users"], ["groups"]):
            assert rule["resourceNames"], "impersonation must be limited to the mapped names"
    users = next(r for r in role["rules"] if r["resources"] == ["users"])
    groups = next(r for r in role["rules"] if r["resources"] == ["groups"])
    assert users["resourceNames"] == ["alice"]
    assert groups["resourceNames"] == ["oncall", "sre"]


def test_rendered_config_is_valid_for_the_bot(tmp_path: Path) -> None:
    (cm,) = [d for d in render("ops") if d["kind"] == "ConfigMap"]
    cfg = yaml.safe_load(cm["data"]["config.yaml"])
    for key in ("bot_token_file", "signing_secret_file"):
        secret = tmp_path / key
        secret.write_text("xoxb-not-real" if key == "bot_token_file" else "s")
        cfg["slack"][key] = str(secret)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    settings = load_settings(path)
    assert settings.clusters["local"].in_cluster
    assert settings.slack.missing_for_mode() == []


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
