"""Workload runbooks against the real control plane: kube-controller-manager rolls out, kwok runs the pods."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bot.config.settings import Settings
from bot.engine.bootstrap import Bot, build_bot
from tests.harness import workload_setup as ws
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.runs import confirm_and_run, plan_text, planned, read, run_change, who
from tests.harness.trust_setup import CAST, grant

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bot(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    """staging and production (same API server); the default policy: destructive on production needs 1 approval."""
    grant(kube_api_client)
    ws.grant_workloads(kube_api_client)
    cluster = {"kubeconfig": str(control_plane.admin_kubeconfig), "context": CONTEXT}
    users = {k: {"user": u, "groups": g} for k, (u, g) in CAST.items()}
    users["U0NOBODY"] = {"user": "nobody", "groups": ["visitors-without-rbac"]}
    b = build_bot(
        Settings(
            clusters={
                "staging": {**cluster, "environment": "staging"},
                "production": {**cluster, "environment": "production"},
            },
            default_cluster="staging",
            identity={"users": users},
            store={"url": f"sqlite:///{tmp_path_factory.mktemp('w') / 'b.db'}"},
            log_format="text",
        )
    )
    yield b
    b.close()


@pytest.fixture(scope="module")
def pool(kube_api_client: client.ApiClient) -> dict[str, str]:
    return ws.pool_node(kube_api_client)


def human_writes(cp: ControlPlane, ns: str, run_id: str) -> list[dict[str, Any]]:
    """Audit events of real (not dry-run) writes in ``ns`` made for ``run_id``."""
    return [
        e
        for e in cp.read_audit_events()
        if e.get("verb") in ("patch", "update", "delete", "create")
        and (e.get("objectRef") or {}).get("namespace") == ns
        and "dryRun" not in e.get("requestURI", "")
        and run_id in str((e.get("impersonatedUser") or {}).get("extra"))
    ]


def image_of(api: client.ApiClient, ns: str, name: str) -> str:
    return str(client.AppsV1Api(api).read_namespaced_deployment(name, ns).spec.template.spec.containers[0].image)


def test_restart_completes_a_real_rollout(
    bot: Bot, namespace: str, pool: dict[str, str], kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    ws.deployment(kube_api_client, namespace, "web", 2, pool)
    ws.rolled_out(kube_api_client, namespace, "web")
    before = {p.metadata.uid for p in ws.pods(kube_api_client, namespace, "web")}
    out, rec = planned(bot, f"restart web -n {namespace}")
    text = plan_text(out.report)
    assert "kubectl.kubernetes.io/restartedAt" in text
    assert "the API server accepts this change" in text
    _, final = confirm_and_run(bot, rec)
    assert final.state == "succeeded", final.outcome
    assert "deployment/web restarted" in (final.outcome or "")
    dep = ws.rolled_out(kube_api_client, namespace, "web")
    assert "kubectl.kubernetes.io/restartedAt" in (dep.spec.template.metadata.annotations or {})
    after = {p.metadata.uid for p in ws.pods(kube_api_client, namespace, "web")}
    assert len(after) == 2
    assert not (after & before), "every pod was replaced"
    (patch,) = human_writes(control_plane, namespace, rec.id)
    assert patch["impersonatedUser"]["username"] == "alice"
    assert patch["objectRef"]["resource"] == "deployments"

    status = read(bot, f"rollout-status web -n {namespace}")
    assert status.title == "Rollout of deployment/web: complete"
    assert "2 (current)" in plan_text(status)
    assert ws.IMAGE_V1 in plan_text(status)


def test_rollback_restores_the_previous_image_and_lists_real_revisions(
    bot: Bot, namespace: str, pool: dict[str, str], kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    ws.deployment(kube_api_client, namespace, "web", 2, pool)
    ws.rolled_out(kube_api_client, namespace, "web")
    client.AppsV1Api(kube_api_client).patch_namespaced_deployment(
        "web", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": ws.IMAGE_V2}]}}}}
    )
    ws.rolled_out(kube_api_client, namespace, "web")

    unknown = bot.runs.request(f"rollback web 9 -n {namespace}", who(bot, "U0ALICE"))
    text = plan_text(unknown.report)
    assert not unknown.ok
    assert "deployment/web has no revision 9" in text
    assert f"its revisions: 2 (current): app={ws.IMAGE_V2}; 1: app={ws.IMAGE_V1}" in text

    out, rec = planned(bot, f"rollback web -n {namespace}")
    assert f"images: app={ws.IMAGE_V2} → app={ws.IMAGE_V1}" in plan_text(out.report)
    assert "roll back deployment/web from revision 2 to revision 1" in plan_text(out.report)
    _, final = confirm_and_run(bot, rec)
    assert final.state == "succeeded", final.outcome
    ws.rolled_out(kube_api_client, namespace, "web")
    assert image_of(kube_api_client, namespace, "web") == ws.IMAGE_V1
    (patch,) = human_writes(control_plane, namespace, rec.id)
    assert patch["impersonatedUser"]["username"] == "alice"
    assert {p.spec.containers[0].image for p in ws.pods(kube_api_client, namespace, "web")} == {ws.IMAGE_V1}


def test_scale_guard_rails(bot: Bot, namespace: str, pool: dict[str, str], kube_api_client: client.ApiClient) -> None:
    ws.deployment(kube_api_client, namespace, "kube-state-metrics", 1, pool)
    refused = bot.runs.request(f"scale kube-state-metrics 3 -n {namespace}", who(bot, "U0ALICE"))
    assert not refused.ok
    assert "kube-state-metrics is a configured singleton: it never runs more than 1 replica" in plan_text(
        refused.report
    )

    ws.deployment(kube_api_client, namespace, "web", 2, pool)
    ws.hpa(kube_api_client, namespace, "web", 2, 5)
    out, rec = planned(bot, f"scale web 3 -n {namespace}")
    text = plan_text(out.report)
    assert "HPA web (min 2, max 5) manages deployment/web: it will override a hand-set count" in text
    assert "use --adjust-hpa to move its min/max instead" in text
    bot.runs.cancel(rec.id, rec.plan_hash, who(bot, "U0ALICE"))

    out, rec = planned(bot, f"scale web 4 --adjust-hpa -n {namespace}")
    assert "HPA web: minReplicas 2 → 4, maxReplicas 5 → 5" in plan_text(out.report)
    confirm_and_run(bot, rec)
    spec = client.AutoscalingV2Api(kube_api_client).read_namespaced_horizontal_pod_autoscaler("web", namespace).spec
    assert (spec.min_replicas, spec.max_replicas) == (4, 5)

    ws.statefulset(kube_api_client, namespace, "etcd", 3, pool)
    out, rec = planned(bot, f"scale statefulset/etcd 2 -n {namespace}")
    text = plan_text(out.report)
    assert "StatefulSet pods go one at a time from the highest ordinal (etcd-2 first, down to etcd-2)" in text
    assert "etcd looks quorum-based: 3 → 2 members; a majority of 2 must stay up" in text
    assert "an even size (2) tolerates no more failures than 1" in text


def test_scaling_to_zero_on_production_waits_for_approval(
    bot: Bot, namespace: str, pool: dict[str, str], kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    ws.deployment(kube_api_client, namespace, "web", 2, pool)
    ws.rolled_out(kube_api_client, namespace, "web")
    out, rec = planned(bot, f"scale web 1 -n {namespace} --cluster production")
    assert rec.risk == "change"
    assert rec.approvals_required == 0
    bot.runs.cancel(rec.id, rec.plan_hash, who(bot, "U0ALICE"))

    out, rec = planned(bot, f"scale web 0 -n {namespace} --cluster production")
    assert rec.risk == "destructive"
    assert rec.approvals_required == 1
    assert "`scale` (destructive)" in plan_text(out.report)
    assert "scaling to 0 stops every pod of deployment/web" in plan_text(out.report)
    decision = bot.runs.confirm(rec.id, rec.plan_hash, who(bot, "U0ALICE"))
    assert not decision.execute
    assert bot.store.get_run(rec.id).state == "awaiting_approval"  # type: ignore[union-attr]
    assert client.AppsV1Api(kube_api_client).read_namespaced_deployment("web", namespace).spec.replicas == 2

    approval = bot.runs.approve(rec.id, rec.plan_hash, who(bot, "U0BOB"))
    assert approval.execute
    bot.runs.execute(rec.id)
    final = bot.store.get_run(rec.id)
    assert final is not None
    assert final.state == "succeeded", final.outcome
    assert client.AppsV1Api(kube_api_client).read_namespaced_deployment("web", namespace).spec.replicas == 0
    (write,) = human_writes(control_plane, namespace, rec.id)
    assert write["objectRef"]["subresource"] == "scale"
    assert write["impersonatedUser"]["username"] == "alice"
    assert write["impersonatedUser"]["extra"]["runbook-bot.approvers"] == ["bob"]


def test_restart_failed_deletes_exactly_the_failing_pods(
    bot: Bot, namespace: str, pool: dict[str, str], kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    ws.deployment(kube_api_client, namespace, "crashy", 2, pool, fail="CrashLoopBackOff")
    ws.deployment(kube_api_client, namespace, "puller", 1, pool, fail="ImagePullBackOff")
    ws.deployment(kube_api_client, namespace, "good", 2, pool)
    ws.bare_pod(kube_api_client, namespace, "lonely", pool, fail="Error")
    crashing = ws.failing(kube_api_client, namespace, "crashy", 2, "CrashLoopBackOff")
    pulling = ws.failing(kube_api_client, namespace, "puller", 1, "ImagePullBackOff")
    ws.failing(kube_api_client, namespace, "lonely", 1, "Error")
    ws.rolled_out(kube_api_client, namespace, "good")
    good = {p.metadata.uid for p in ws.pods(kube_api_client, namespace, "good")}

    out, rec = planned(bot, f"restart-failed -n {namespace}")
    text = plan_text(out.report)
    for p in crashing:
        assert f"pod {p.metadata.name}: CrashLoopBackOff, 5 restarts, owner Deployment/crashy" in text
    assert f"pod {pulling[0].metadata.name}: ImagePullBackOff, 0 restarts, owner Deployment/puller" in text
    assert "skipped pod lonely: Error, 5 restarts, owner none: no controller would recreate it (add --force" in text
    _, final = confirm_and_run(bot, rec)
    assert final.state == "succeeded", final.outcome
    assert final.outcome is not None
    assert final.outcome.startswith(f"Deleted 3 failing pods in {namespace}")

    deletes = human_writes(control_plane, namespace, rec.id)
    assert sorted(e["objectRef"]["name"] for e in deletes) == sorted(p.metadata.name for p in crashing + pulling)
    assert {e["impersonatedUser"]["username"] for e in deletes} == {"alice"}
    gone = {p.metadata.uid for p in crashing + pulling}
    live = {
        p.metadata.uid
        for app in ("crashy", "puller", "good", "lonely")
        for p in ws.pods(kube_api_client, namespace, app)
    }
    assert not (gone & live), "the failing pods are gone"
    assert good <= live, "healthy pods untouched"
    assert any(p.metadata.name == "lonely" for p in ws.pods(kube_api_client, namespace, "lonely")), "unmanaged pod kept"
    ws.failing(kube_api_client, namespace, "crashy", 2, "CrashLoopBackOff")  # their controller recreated them

    forced = run_change(bot, f"restart-failed -n {namespace} --force")[1]
    assert "Deleted 4 failing pods" in (forced.outcome or "")


def test_logs_are_redacted_and_long_output_becomes_a_file(
    bot: Bot,
    namespace: str,
    pool: dict[str, str],
    kube_api_client: client.ApiClient,
    control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    ws.deployment(kube_api_client, namespace, "api", 1, pool)
    ws.rolled_out(kube_api_client, namespace, "api")
    (pod,) = ws.pods(kube_api_client, namespace, "api")
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXBhcnQ"
    lines = [
        "starting api",
        f"using GITHUB_TOKEN={token}",
        f"Authorization: Bearer {jwt}",
        "password: hunter2",
        "ready",
    ]
    ws.serve_logs(kube_api_client, namespace, pod.metadata.name, lines, tmp_path)
    ws.wait_logs(kube_api_client, namespace, pod.metadata.name, "ready")

    report = read(bot, f"logs {pod.metadata.name} -n {namespace}")
    text = plan_text(report)
    assert "starting api" in text
    assert "ready" in text
    assert token not in text
    assert jwt not in text
    assert "hunter2" not in text
    run_id = report.context[-1].split("run ")[-1]
    (read_log,) = [
        e
        for e in control_plane.read_audit_events()
        if (e.get("objectRef") or {}).get("subresource") == "log"
        and run_id in str(e.get("impersonatedUser"))
        and e.get("stage") == "ResponseComplete"
    ]
    assert read_log["impersonatedUser"]["username"] == "alice"
    assert read_log["objectRef"]["name"] == pod.metadata.name
    assert "using GITHUB_TOKEN=[redacted]" in text
    assert "Authorization: Bearer [redacted]" in text
    assert "3 secrets redacted" in (report.summary or "")
    assert not report.attachments

    via_workload = read(bot, f"logs deployment/api --tail 2 -n {namespace}")
    assert f"[{pod.metadata.name}] password: [redacted]" in plan_text(via_workload)
    assert "starting api" not in plan_text(via_workload), "--tail 2"

    ws.deployment(kube_api_client, namespace, "chatty", 1, pool)
    ws.rolled_out(kube_api_client, namespace, "chatty")
    (chatty,) = ws.pods(kube_api_client, namespace, "chatty")
    many = [f"line {i} api_key={i:08d}secret" for i in range(5000)]
    ws.serve_logs(kube_api_client, namespace, chatty.metadata.name, many, tmp_path)
    ws.wait_logs(kube_api_client, namespace, chatty.metadata.name, "line 4999")
    big = read(bot, f"logs {chatty.metadata.name} --tail 5000 -n {namespace}")
    (attachment,) = big.attachments
    content = attachment.content.splitlines()
    assert len(content) == 5000
    assert content[0] == "line 0 api_key=[redacted]"
    assert content[-1] == "line 4999 api_key=[redacted]"
    assert "secret" not in attachment.content
    assert "the full output (5000 lines) is attached as a file" in big.context


@pytest.mark.parametrize(
    ("command", "missing"),
    [
        ("restart web", "patch deployments.apps `web`"),
        ("scale web 3", "patch deployments/scale.apps `web`"),
        ("rollback web", "patch deployments.apps `web`"),
        ("restart-failed", "delete pods `"),
    ],
)
def test_change_runbooks_refuse_a_requester_without_rbac_naming_the_permission(
    bot: Bot, namespace: str, pool: dict[str, str], kube_api_client: client.ApiClient, command: str, missing: str
) -> None:
    ws.deployment(kube_api_client, namespace, "web", 1, pool)
    ws.deployment(kube_api_client, namespace, "crashy", 1, pool, fail="CrashLoopBackOff")
    dep = ws.rolled_out(kube_api_client, namespace, "web")
    if command.startswith("rollback"):
        client.AppsV1Api(kube_api_client).patch_namespaced_deployment(
            "web", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": ws.IMAGE_V2}]}}}}
        )
        ws.rolled_out(kube_api_client, namespace, "web")
    ws.failing(kube_api_client, namespace, "crashy", 1, "CrashLoopBackOff")
    out = bot.runs.request(f"{command} -n {namespace}", who(bot, "U0MALLORY"))
    assert not out.ok
    assert out.report is not None
    assert out.report.title == "Not allowed"
    assert (out.report.summary or "").startswith("mallory may not ")
    assert missing in (out.report.summary or "")
    assert f"in namespace {namespace} on cluster staging" in (out.report.summary or "")
    assert (
        client.AppsV1Api(kube_api_client).read_namespaced_deployment("web", namespace).metadata.generation
        >= dep.metadata.generation
    )


def test_read_runbooks_refuse_a_requester_without_rbac(
    bot: Bot, namespace: str, pool: dict[str, str], kube_api_client: client.ApiClient
) -> None:
    ws.deployment(kube_api_client, namespace, "api", 1, pool)
    ws.rolled_out(kube_api_client, namespace, "api")
    (pod,) = ws.pods(kube_api_client, namespace, "api")
    logs = bot.runs.request(f"logs {pod.metadata.name} -n {namespace}", who(bot, "U0MALLORY"))
    assert not logs.ok
    assert logs.report is not None
    assert logs.report.summary == (
        f"mallory may not get pods/log `{pod.metadata.name}` in namespace {namespace} on cluster staging"
    )
    status = bot.runs.request(f"rollout-status web -n {namespace}", who(bot, "U0NOBODY"))
    assert not status.ok
    # no rights at all: the same answer as for missing one right, every permission named (issue 8)
    assert f"nobody may not get deployments.apps `web` in namespace {namespace}" in plan_text(status.report)
    triage = bot.runs.request(f"triage {pod.spec.node_name}", who(bot, "U0NOBODY"))
    assert not triage.ok
    assert f"nobody may not get nodes `{pod.spec.node_name}` (cluster-wide) and list pods" in plan_text(triage.report)
