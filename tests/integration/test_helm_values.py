"""The Helm chart's values: where the store lives, what it refuses, spread, probes, identity, monitoring.

Rendered with ``helm template`` (and ``helm lint`` for refusals); what the API server accepts is
tested in test_helm_chart.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.harness.helm_chart import (
    CHART,
    HA,
    SOCKET,
    by_kind,
    container_env,
    helm_run,
    pod_spec,
    pod_volume,
    render_error,
)
from tests.harness.helm_chart import render as render_chart

pytestmark = pytest.mark.integration
IDENTITY = ["--set", "config.identity.users.U0ALICE.user=alice"]


def render(namespace: str, *extra: str) -> list[dict[str, Any]]:
    return render_chart("rb", namespace, *IDENTITY, *extra)


def test_sqlite_with_several_replicas_is_refused_with_the_reason() -> None:
    for args in (["--set", "replicaCount=2"], ["--set", "replicaCount=3", "--set", "persistence.enabled=false"]):
        error = render_error("rb", "ops", *IDENTITY, *args)
        assert "but the store is SQLite: each replica would keep its own database" in error, error
        assert "Set store.existingSecret to a Secret holding a PostgreSQL URL, or replicaCount: 1" in error
    # helm lint reports a template's `fail` (it does not fail on it, by design); install/upgrade do.
    linted = helm_run("lint", str(CHART), *IDENTITY, "--set", "replicaCount=2")
    assert "Fail: replicaCount is 2 but the store is SQLite" in linted.stdout + linted.stderr
    # PostgreSQL, from a Secret or (not recommended: a password in a ConfigMap) in the config itself.
    assert by_kind(render("ops", *HA))["Deployment"]["spec"]["replicas"] == 2
    in_config = render("ops", "--set", "replicaCount=2", "--set", "config.store.url=postgresql+psycopg://db/bot")
    assert by_kind(in_config)["Deployment"]["spec"]["replicas"] == 2


def test_default_keeps_sqlite_on_a_pvc_and_stops_before_starting() -> None:
    docs = render("ops")
    pvc = by_kind(docs)["PersistentVolumeClaim"]
    assert pvc["metadata"]["name"] == "rb-data"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "storageClassName" not in pvc["spec"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pod_volume(docs, "data") == {"name": "data", "persistentVolumeClaim": {"claimName": "rb-data"}}
    assert by_kind(docs)["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
    cm = yaml.safe_load(by_kind(docs)["ConfigMap"]["data"]["config.yaml"])
    assert cm["store"]["url"] == "sqlite:////var/lib/runbook-bot/data/runbook-bot.sqlite3"
    assert "RUNBOOK_BOT_STORE__URL" not in container_env(docs)
    assert "ServiceMonitor" not in by_kind(docs)
    assert "Secret" not in by_kind(docs)


def test_persistence_values_choose_the_claim_class_and_size() -> None:
    sized = by_kind(render("ops", "--set", "persistence.size=20Gi", "--set", "persistence.storageClass=fast"))
    assert sized["PersistentVolumeClaim"]["spec"]["storageClassName"] == "fast"
    assert sized["PersistentVolumeClaim"]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    static = by_kind(render("ops", "--set", "persistence.storageClass=-"))
    assert static["PersistentVolumeClaim"]["spec"]["storageClassName"] == ""
    existing = render("ops", "--set", "persistence.existingClaim=bot-data")
    assert "PersistentVolumeClaim" not in by_kind(existing)
    assert pod_volume(existing, "data")["persistentVolumeClaim"] == {"claimName": "bot-data"}
    scratch = render("ops", "--set", "persistence.enabled=false")
    assert "PersistentVolumeClaim" not in by_kind(scratch)
    assert pod_volume(scratch, "data")["emptyDir"] == {}


def test_postgresql_from_a_secret_rolls_replicas_one_at_a_time() -> None:
    docs = render("ops", *HA, "--set", "podAntiAffinity=hard")
    assert container_env(docs)["RUNBOOK_BOT_STORE__URL"] == {"secretKeyRef": {"name": "runbook-bot-db", "key": "dsn"}}
    assert "PersistentVolumeClaim" not in by_kind(docs)
    assert pod_volume(docs, "data")["emptyDir"] == {}
    deployment = by_kind(docs)["Deployment"]
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    (term,) = pod_spec(docs)["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_disruption_budget_spread_probes_and_grace_period() -> None:
    docs = render("ops", "--set", "terminationGracePeriodSeconds=90")
    pdb = by_kind(docs)["PodDisruptionBudget"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == by_kind(docs)["Deployment"]["spec"]["selector"]["matchLabels"]
    spec = pod_spec(docs)
    (preferred,) = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    bot = spec["containers"][0]
    assert bot["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert bot["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert bot["startupProbe"]["failureThreshold"] * bot["startupProbe"]["periodSeconds"] == 60
    assert spec["terminationGracePeriodSeconds"] == 90
    assert container_env(docs)["RUNBOOK_BOT_EXECUTION__SHUTDOWN_GRACE_SECONDS"] == "80"
    assert container_env(render("ops"))["RUNBOOK_BOT_EXECUTION__SHUTDOWN_GRACE_SECONDS"] == "50"
    ha = by_kind(render("ops", *HA, "--set", "podDisruptionBudget.minAvailable=1"))["PodDisruptionBudget"]
    assert ha["spec"] == {"minAvailable": 1, "selector": pdb["spec"]["selector"]}
    assert "minAvailable (1) must be below replicaCount (1)" in render_error(
        "rb", "ops", "--set", "podDisruptionBudget.minAvailable=1"
    )
    assert "PodDisruptionBudget" not in by_kind(render("ops", "--set", "podDisruptionBudget.enabled=false"))
    assert "no time to shut down" in render_error("rb", "ops", "--set", "terminationGracePeriodSeconds=10")


def test_workload_identity_for_aws_and_azure() -> None:
    role = "arn:aws:iam::123456789012:role/runbook-bot"
    client_id = "00000000-1111-2222-3333-444444444444"
    docs = render(
        "ops",
        "--set",
        f"workloadIdentity.aws.roleArn={role}",
        "--set",
        f"workloadIdentity.azure.clientId={client_id}",
        "--set",
        "serviceAccount.annotations.team=ops",
    )
    annotations = by_kind(docs)["ServiceAccount"]["metadata"]["annotations"]
    assert annotations == {
        "eks.amazonaws.com/role-arn": role,
        "azure.workload.identity/client-id": client_id,
        "team": "ops",
    }
    labels = by_kind(docs)["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    plain = by_kind(render("ops"))
    assert "annotations" not in plain["ServiceAccount"]["metadata"]
    assert "azure.workload.identity/use" not in plain["Deployment"]["spec"]["template"]["metadata"]["labels"]


def test_slack_secret_existing_or_created_for_development() -> None:
    assert pod_volume(render("ops"), "slack")["secret"]["secretName"] == "k8s-runbook-bot-slack"
    dev = ["--set", "slack.create=true", "--set", "slack.botToken=xoxb-dev", "--set", "slack.signingSecret=s3"]
    docs = render("ops", *dev)
    secret = by_kind(docs)["Secret"]
    assert secret["metadata"]["name"] == "rb-slack"
    assert secret["stringData"] == {"bot-token": "xoxb-dev", "signing-secret": "s3"}
    assert pod_volume(docs, "slack")["secret"]["secretName"] == "rb-slack"
    assert "checksum/slack" in by_kind(docs)["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    socket = render(
        "ops", *SOCKET, "--set", "slack.create=true", "--set", "slack.botToken=x", "--set", "slack.appToken=a"
    )
    assert [i["path"] for i in pod_volume(socket, "slack")["secret"]["items"]] == ["bot-token", "app-token"]
    assert "slack.appToken is empty" in render_error(
        "rb", "ops", *SOCKET, "--set", "slack.create=true", "--set", "slack.botToken=x"
    )
    assert "slack.signingSecret is empty" in render_error(
        "rb", "ops", "--set", "slack.create=true", "--set", "slack.botToken=x"
    )
    assert "slack.existingSecret is empty" in render_error("rb", "ops", "--set", "slack.existingSecret=")


def test_service_monitor_only_when_enabled() -> None:
    docs = render(
        "ops", "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=kps"
    )
    monitor = by_kind(docs)["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= by_kind(docs)["Service"]["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("values", "where"),
    [
        (["--set", "replicas=2"], "additional properties 'replicas' not allowed"),
        (["--set", "persistence.size=lots"], "/persistence/size"),
        (["--set", "podAntiAffinity=sometimes"], "/podAntiAffinity"),
        (["--set", "config.slack.mode=websocket"], "/config/slack/mode"),
        (["--set", "workloadIdentity.aws.roleArn=runbook-bot"], "/workloadIdentity/aws/roleArn"),
        (["--set", "terminationGracePeriodSeconds=-1"], "/terminationGracePeriodSeconds"),
        (["--set", "metrics.serviceMonitor.interval=often"], "/metrics/serviceMonitor/interval"),
    ],
)
def test_bad_values_fail_lint_and_template_naming_the_field(values: list[str], where: str) -> None:
    assert where in render_error("rb", "ops", *values)
    linted = helm_run("lint", str(CHART), *values)
    assert linted.returncode != 0
    assert where in linted.stdout + linted.stderr


def test_the_pod_knows_its_own_name_and_namespace_for_the_drain_warning() -> None:
    env = container_env(render("ops"))  # the downward API: drain/replace-node plans recognise the bot's own node
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
