"""Server-side dry run at plan time: admission (a ValidatingAdmissionPolicy) refuses before anything runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from bot.engine.bootstrap import Bot, build_bot
from tests.harness import workload_setup as ws
from tests.harness.control_plane import ControlPlane
from tests.harness.kwok_nodes import create_node, unique_name, wait_for, wait_node_ready
from tests.harness.runs import plan_text, planned, who
from tests.harness.trust_setup import grant, settings

pytestmark = pytest.mark.integration
NO_CORDON = "runbook-bot.test/no-cordon"
POLICY = "test-no-cordon-labelled-nodes"


@pytest.fixture(scope="module")
def bot(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    grant(kube_api_client)
    b = build_bot(settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path_factory.mktemp('d') / 'b.db'}"))
    yield b
    b.close()


@pytest.fixture
def no_cordon_policy(kube_api_client: client.ApiClient) -> Iterator[None]:
    """A ValidatingAdmissionPolicy (and its Deny binding) forbidding cordoning nodes labelled NO_CORDON."""
    adm = client.AdmissionregistrationV1Api(kube_api_client)
    adm.create_validating_admission_policy(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["nodes"]}
                    ]
                },
                "validations": [
                    {
                        "expression": f"!(has(object.spec.unschedulable) && object.spec.unschedulable) || "
                        f"!has(object.metadata.labels) || !('{NO_CORDON}' in object.metadata.labels)",
                        "message": "nodes labelled runbook-bot.test/no-cordon must never be cordoned",
                    }
                ],
            },
        }
    )
    adm.create_validating_admission_policy_binding(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY},
            "spec": {"policyName": POLICY, "validationActions": ["Deny"]},
        }
    )
    try:
        yield
    finally:
        adm.delete_validating_admission_policy_binding(POLICY)
        adm.delete_validating_admission_policy(POLICY)


def node_writes(cp: ControlPlane, node: str) -> list[dict[str, Any]]:
    return [
        e
        for e in cp.read_audit_events()
        if e.get("verb") in ("patch", "update")
        and (e.get("objectRef") or {}).get("resource") == "nodes"
        and (e.get("objectRef") or {}).get("name") == node
        and not (e.get("objectRef") or {}).get("subresource")
        and e.get("impersonatedUser")
    ]


def test_a_policy_that_forbids_the_cordon_refuses_it_at_plan_time(
    bot: Bot, kube_api_client: client.ApiClient, control_plane: ControlPlane, no_cordon_policy: None
) -> None:
    core = client.CoreV1Api(kube_api_client)
    node = unique_name("pinned")
    create_node(core, node, labels={NO_CORDON: "true"})
    wait_node_ready(core, node)

    def policy_active() -> bool | None:  # the API server loads new policies asynchronously
        try:
            core.patch_node(node, {"spec": {"unschedulable": True}}, dry_run="All")
        except client.ApiException as exc:
            return True if exc.status == 422 else None
        return None

    wait_for("the admission policy to be enforced", policy_active, 30)
    out = bot.runs.request(f"cordon {node}", who(bot, "U0ALICE"))
    text = plan_text(out.report)
    assert not out.ok
    assert f"the API server would refuse the cordon of node {node}" in text
    assert "nodes labelled runbook-bot.test/no-cordon must never be cordoned" in text
    assert f"ValidatingAdmissionPolicy '{POLICY}'" in text
    assert not core.read_node(node).spec.unschedulable
    writes = node_writes(control_plane, node)
    assert writes
    assert all("dryRun=All" in e["requestURI"] for e in writes), "only dry runs reached the server"
    assert {e["impersonatedUser"]["username"] for e in writes} == {"alice"}


def test_an_accepted_change_says_so_in_the_plan(bot: Bot, kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    node = unique_name("free")
    create_node(core, node)
    wait_node_ready(core, node)
    out, rec = planned(bot, f"cordon {node}")
    assert f"✓ the cordon of node {node}: the API server accepts this change (server-side dry run)" in plan_text(
        out.report
    )
    assert not core.read_node(node).spec.unschedulable
    bot.runs.cancel(rec.id, rec.plan_hash, who(bot, "U0ALICE"))


def test_the_dry_run_of_a_pod_deletion_deletes_nothing(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    """DELETE with a body (the UID precondition) ignores ?dryRun=All: the dry run must be in the body."""
    pool = ws.pool_node(kube_api_client)
    ws.deployment(kube_api_client, namespace, "web", 1, pool)
    ws.rolled_out(kube_api_client, namespace, "web")
    (pod,) = ws.pods(kube_api_client, namespace, "web")
    out, rec = planned(bot, f"delete-pod {pod.metadata.name} -n {namespace}")
    assert "the API server accepts this change" in plan_text(out.report)
    again = client.CoreV1Api(kube_api_client).read_namespaced_pod(pod.metadata.name, namespace)
    assert again.metadata.uid == pod.metadata.uid
    assert again.metadata.deletion_timestamp is None
    deletes = [
        e
        for e in control_plane.read_audit_events()
        if e.get("verb") == "delete" and (e.get("objectRef") or {}).get("namespace") == namespace
    ]
    assert len(deletes) == 1
    assert "dryRun=All" in deletes[0]["requestURI"]
    bot.runs.cancel(rec.id, rec.plan_hash, who(bot, "U0ALICE"))
