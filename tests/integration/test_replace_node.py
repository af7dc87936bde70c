"""replace-node end to end: AWS Auto Scaling (moto server) and Azure VM scale sets (fake ARM over HTTPS).

Real kube-apiserver + kwok for the nodes; a test-side joiner registers a kwok Node for every new
instance the cloud launches, as a kubelet would. Every run goes request → confirm → approve →
execute, as the requester (impersonated), and is checked in the cloud, the cluster and the audit.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bot.engine.bootstrap import Bot, build_bot
from bot.engine.identity import IdentityMapper
from bot.model import Requester
from bot.store import RunRecord
from tests.harness.cloud_nodes import FakeKarpenter, KubeletJoiner, delete_nodes, install_nodeclaim_crd
from tests.harness.control_plane import ControlPlane
from tests.harness.fake_arm import FakeArm
from tests.harness.kwok_nodes import (
    create_node,
    node_is_ready,
    unique_name,
    wait_for,
    wait_node_ready,
    wait_pods_running,
)
from tests.harness.replace_setup import (
    AZ_RG,
    AZ_SUB,
    CONTROL_PLANE,
    Aws,
    azure_lister,
    grant_replacers,
    moto_server,
    replace_settings,
)
from tests.harness.workloads import deployment, pdb

pytestmark = pytest.mark.integration

CONTROL_PLANE_ROLES = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")

WORKFLOW_KINDS = ["requested", "planned", "confirmed", "approval_requested", "approved"]


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    with moto_server() as url:
        yield Aws(url)


@pytest.fixture(scope="module")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeArm]:
    fake = FakeArm(tmp_path_factory.mktemp("arm"))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def bot(
    control_plane: ControlPlane,
    kube_api_client: client.ApiClient,
    aws: Aws,
    arm: FakeArm,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Bot]:
    grant_replacers(kube_api_client)
    tmp = tmp_path_factory.mktemp("replace")
    secret = tmp / "azure-client-secret"
    secret.write_text(arm.client_secret)
    b = build_bot(replace_settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp / 'b.db'}", aws.url, arm, secret))
    yield b
    b.close()


def who(bot: Bot, chat_id: str) -> Requester:
    return IdentityMapper(bot.settings.identity).requester(chat_id)


def run_with_approval(bot: Bot, text: str, progress: list[str]) -> RunRecord:
    """alice requests and confirms, bob (leads) approves, the run executes; the final record."""
    out = bot.runs.request(text, who(bot, "U0ALICE"))
    assert out.ok, out.report
    assert out.pending, out.report
    assert out.run_id, out.report
    rec = bot.store.get_run(out.run_id)
    assert rec is not None
    assert not bot.runs.confirm(rec.id, rec.plan_hash, who(bot, "U0ALICE")).execute
    assert bot.runs.approve(rec.id, rec.plan_hash, who(bot, "U0BOB")).execute
    bot.runs.execute(rec.id, progress=progress.append)
    final = bot.store.get_run(rec.id)
    assert final is not None
    return final


def pods_on(core: client.CoreV1Api, ns: str, node: str) -> list[client.V1Pod]:
    return [
        p
        for p in core.list_namespaced_pod(ns, field_selector=f"spec.nodeName={node}").items
        if p.metadata.deletion_timestamp is None
    ]


def node_exists(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_node(name)
        return True
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise


def audit_kinds(bot: Bot, run_id: str) -> list[str]:
    return [e.kind for e in reversed(bot.store.audit_events(run_id=run_id, limit=200))]


def node_deleted_as_alice(cp: ControlPlane, node: str, run_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in cp.read_audit_events()
        if e.get("verb") == "delete"
        and (e.get("objectRef") or {}).get("resource") == "nodes"
        and (e.get("objectRef") or {}).get("name") == node
        and (e.get("impersonatedUser") or {}).get("username") == "alice"
        and run_id in json.dumps((e.get("impersonatedUser") or {}).get("extra"))
    ]


def assert_complete_audit(bot: Bot, rec: RunRecord) -> None:
    kinds = audit_kinds(bot, rec.id)
    assert kinds[: len(WORKFLOW_KINDS)] == WORKFLOW_KINDS, kinds
    assert kinds.count("step_started") == 6, kinds
    assert kinds.count("step_finished") == 6, kinds
    assert kinds[-1] == "succeeded", kinds
    for mine in ("replacement_claim", "replacement_record", "replacement_ready"):
        assert mine in kinds, kinds
    approvals = bot.store.approvals(rec.id)
    assert [a.kube_user for a in approvals if a.decision == "approve"] == ["bob"]


def test_replace_node_on_aws_drains_terminates_waits_and_deletes(
    bot: Bot, aws: Aws, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    core = client.CoreV1Api(kube_api_client)
    pool = {"rn-pool": unique_name("aws")}
    group = aws.group(unique_name("asg-web"), 3)
    joiner = KubeletJoiner(core, lambda: aws.in_service(group), pool, "ip").start()
    try:
        for name in joiner.nodes.values():
            wait_node_ready(core, name)
        deployment(kube_api_client, namespace, "web", 3, pool)
        pods = wait_pods_running(core, namespace, "app=web", 3)
        old_node = pods[0].spec.node_name
        old_instance = next(i for i, n in joiner.nodes.items() if n == old_node)
        before = set(joiner.nodes)

        progress: list[str] = []
        started = time.monotonic()
        rec = run_with_approval(bot, f"replace-node {old_node} --cluster prod --wait 2m", progress)
        took = time.monotonic() - started
        assert rec.state == "succeeded", rec.outcome
        plan = json.dumps(rec.plan)
        assert f"EC2 instance {old_instance} (us-east-1a) in Auto Scaling group {group} (desired 3" in plan
        assert "terminate it keeping the desired capacity" in plan
        assert "delete nodes" in plan

        # the cloud: the old instance terminated, the group kept its desired capacity with a new instance
        assert aws.state(old_instance) == "terminated"
        assert aws.desired(group) == 3
        instances = {i for i, _ in aws.in_service(group)}
        assert old_instance not in instances
        assert len(instances) == 3
        (new_instance,) = instances - before
        new_node = wait_for("the joiner to register the new instance", lambda: joiner.nodes.get(new_instance), 10)
        # the cluster: new node Ready, old Node deleted (as alice), pods moved off the old node
        assert wait_node_ready(core, new_node)
        assert not node_exists(core, old_node)
        assert node_deleted_as_alice(control_plane, old_node, rec.id)
        wait_pods_running(core, namespace, "app=web", 3)
        assert not pods_on(core, namespace, old_node)
        assert f"Node {old_node} deleted; replaced by {new_node}" in (rec.outcome or "")
        assert any("evicted" in p for p in progress), progress
        assert_complete_audit(bot, rec)
        assert not joiner.errors
        print(f"\nreplace-node on AWS (moto) took {took:.1f}s")
    finally:
        joiner.stop()


def test_replacing_the_bots_own_node_warns_in_the_plan(
    bot: Bot, aws: Aws, namespace: str, kube_api_client: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = client.CoreV1Api(kube_api_client)
    pool = {"rn-pool": unique_name("own")}
    group = aws.group(unique_name("asg-bot"), 2)
    joiner = KubeletJoiner(core, lambda: aws.in_service(group), pool, "ip").start()
    try:
        for name in joiner.nodes.values():
            wait_node_ready(core, name)
        deployment(kube_api_client, namespace, "runbook-bot", 1, pool)
        (pod,) = wait_pods_running(core, namespace, "app=runbook-bot", 1)
        monkeypatch.setenv("POD_NAME", pod.metadata.name)
        monkeypatch.setenv("POD_NAMESPACE", namespace)
        out = bot.runs.request(f"replace-node {pod.spec.node_name} --cluster prod", who(bot, "U0ALICE"))
        assert out.ok, out.report
        assert out.pending
        assert out.run_id
        assert out.report
        warnings = [
            line for part in out.report.parts if getattr(part, "title", "") == "Warnings" for line in part.lines
        ]
        (own,) = [w for w in warnings if "runs the bot itself" in w]
        assert own.startswith(f"node {pod.spec.node_name} runs the bot itself (pod {namespace}/{pod.metadata.name})")
        assert "no replica resumes it" in own
        assert "With SQLite the bot has a single replica" in own
        rec = bot.store.get_run(out.run_id)
        assert rec is not None
        bot.runs.cancel(rec.id, rec.plan_hash, who(bot, "U0ALICE"), "only the plan was wanted")
    finally:
        joiner.stop()


def test_replace_node_on_azure_deletes_the_instance_and_restores_capacity(
    bot: Bot, arm: FakeArm, namespace: str, kube_api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    core = client.CoreV1Api(kube_api_client)
    pool = {"rn-pool": unique_name("az")}
    ss = arm.add_scale_set(AZ_SUB, AZ_RG, unique_name("pool-vmss"), 3)
    joiner = KubeletJoiner(core, azure_lister(arm, ss.name), pool, "vmss").start()
    try:
        for name in joiner.nodes.values():
            wait_node_ready(core, name)
        deployment(kube_api_client, namespace, "api", 3, pool)
        pods = wait_pods_running(core, namespace, "app=api", 3)
        old_node = pods[0].spec.node_name
        old_instance = next(i for i, n in joiner.nodes.items() if n == old_node)
        first_request = len(arm.requests)

        progress: list[str] = []
        started = time.monotonic()
        rec = run_with_approval(bot, f"replace-node {old_node} --cluster azprod --wait 2m", progress)
        took = time.monotonic() - started
        assert rec.state == "succeeded", rec.outcome
        plan = json.dumps(rec.plan)
        assert f"VM scale set instance {ss.name}/{old_instance} in VM scale set {ss.name} (desired 3" in plan
        assert "delete it and set the capacity back to 3" in plan

        calls = arm.requests[first_request:]
        assert all(authorized for _, _, authorized in calls), "every ARM call carries the bearer token"
        vm_path = f"/virtualMachineScaleSets/{ss.name}/virtualMachines/{old_instance}"
        assert any(m == "DELETE" and p.endswith(vm_path) for m, p, _ in calls)
        assert any(m == "PATCH" and p.endswith(f"/virtualMachineScaleSets/{ss.name}") for m, p, _ in calls)
        assert ss.capacity == 3
        assert old_instance not in ss.instances
        assert len(ss.instances) == 3
        (new_instance,) = set(ss.instances) - {"0", "1", "2"}
        new_node = joiner.nodes[new_instance]
        assert wait_node_ready(core, new_node)
        assert not node_exists(core, old_node)
        assert node_deleted_as_alice(control_plane, old_node, rec.id)
        wait_pods_running(core, namespace, "app=api", 3)
        assert not pods_on(core, namespace, old_node)
        assert f"Node {old_node} deleted; replaced by {new_node}" in (rec.outcome or "")
        assert any("restoring the capacity" in p or "capacity update" in p for p in progress), progress
        assert_complete_audit(bot, rec)
        assert arm.client_secret not in json.dumps(rec.plan) + (rec.outcome or "")
        print(f"\nreplace-node on Azure (fake ARM) took {took:.1f}s")
    finally:
        joiner.stop()


# replace-node as it was before `include: drain`: the drain's six flags threaded by hand.
HAND_THREADED_REPLACE_NODE = """\
name: replace-node
summary: Drain a node, terminate its cloud instance so its group replaces it, wait for the new node, delete the old one
risk: destructive
params:
  node: {type: node}
  force: {type: bool}
  delete_emptydir_data: {type: bool}
  ignore_daemonsets: {type: bool, default: true}
  timeout: {type: duration, default: 10m}
  grace_period: {type: integer, required: false, min: 0, max: 3600}
  wait: {type: duration, default: 15m}
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


def test_the_composed_replace_node_plans_exactly_like_the_hand_threaded_one(
    bot: Bot, aws: Aws, namespace: str, kube_api_client: client.ApiClient, tmp_path: Path
) -> None:
    core = client.CoreV1Api(kube_api_client)
    pool = {"rn-pool": unique_name("plan")}
    group = aws.group(unique_name("asg-plan"), 2)
    joiner = KubeletJoiner(core, lambda: aws.in_service(group), pool, "ip").start()
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "replace-node.yaml").write_text(HAND_THREADED_REPLACE_NODE)
    settings = bot.settings.model_copy(
        update={
            "runbook_dirs": [tmp_path / "runbooks"],
            "store": bot.settings.store.model_copy(update={"url": f"sqlite:///{tmp_path / 'old.db'}"}),
        }
    )
    by_hand = build_bot(settings)
    try:
        for name in joiner.nodes.values():
            wait_node_ready(core, name)
        deployment(kube_api_client, namespace, "plan", 2, pool)
        node = wait_pods_running(core, namespace, "app=plan", 2)[0].spec.node_name
        assert [s.step for s in by_hand.catalog.get("replace-node").steps] == [  # type: ignore[union-attr]
            s.step
            for s in bot.catalog.get("replace-node").steps  # type: ignore[union-attr]
        ]
        for text in (
            f"replace-node {node} --cluster prod",
            f"replace-node {node} --cluster prod --force --no-ignore-daemonsets --timeout 5m --grace-period 10 --wait 3m",
        ):
            composed = bot.engine.prepare(text, who(bot, "U0ALICE"))
            threaded = by_hand.engine.prepare(text, who(bot, "U0ALICE"))
            assert [s.plan.description for s in composed.steps] == [s.plan.description for s in threaded.steps]
            assert any(t.kind == "Pod" for s in composed.steps for t in s.plan.targets), "the plan evicts pods"
            assert composed.permissions == threaded.permissions
            assert composed.plan_hash == threaded.plan_hash, text
    finally:
        by_hand.close()
        joiner.stop()


def test_secrets_never_reach_the_audit_trail(bot: Bot, arm: FakeArm) -> None:
    events = json.dumps([(e.summary, e.detail) for e in bot.store.audit_events(limit=500)], default=str)
    assert arm.client_secret not in events
    assert arm.token not in events


# -- guards: each refusal names its reason and changes nothing ------------------------------------
@pytest.fixture
def made(kube_api_client: client.ApiClient) -> Iterator[list[str]]:
    """Names of nodes a test creates; deleted afterwards."""
    names: list[str] = []
    yield names
    delete_nodes(client.CoreV1Api(kube_api_client), names)


def add_node(api: client.ApiClient, made: list[str], prefix: str, **kw: Any) -> str:
    name = kw.pop("name", None) or unique_name(prefix)
    create_node(client.CoreV1Api(api), name, **kw)
    made.append(name)
    return name


def refusal(bot: Bot, text: str) -> str:
    """The request is refused at planning; its reason and hint as one text."""
    out = bot.runs.request(text, who(bot, "U0ALICE"))
    assert not out.ok, out.report
    assert out.report is not None, out.report
    lines = [line for part in out.report.parts for line in getattr(part, "lines", [])]
    return " ".join([out.report.summary or "", *lines])


def is_control_plane_node(node: client.V1Node) -> bool:
    labels = node.metadata.labels or {}
    return any(k in labels for k in CONTROL_PLANE_ROLES) or labels.get("kubernetes.io/role") == "master"


def cordoned(api: client.ApiClient, name: str) -> bool:
    return bool(client.CoreV1Api(api).read_node(name).spec.unschedulable)


AZ_VM = (
    f"azure:///subscriptions/{AZ_SUB}/resourceGroups/{AZ_RG}/providers/Microsoft.Compute/virtualMachines/k8s-master-0"
)


def test_control_plane_vm_outside_a_scale_set_is_refused_restart_it_instead(
    bot: Bot, kube_api_client: client.ApiClient, made: list[str]
) -> None:
    node = add_node(kube_api_client, made, "k8s-master", labels=CONTROL_PLANE, provider_id=AZ_VM)
    reason = refusal(bot, f"replace-node {node} --cluster azprod")
    assert f"control-plane node {node} is not in a scaling group" in reason
    assert "Azure masters are standalone VMs" in reason
    assert "restart it instead" in reason
    assert not cordoned(kube_api_client, node)


def test_control_plane_instance_outside_an_auto_scaling_group_is_refused(
    bot: Bot, aws: Aws, kube_api_client: client.ApiClient, made: list[str]
) -> None:
    instance = aws.lone_instance()
    node = add_node(kube_api_client, made, "cp", labels=CONTROL_PLANE, provider_id=f"aws:////{instance}")
    reason = refusal(bot, f"replace-node {node}")
    assert f"control-plane node {node} is not in a scaling group (EC2 instance {instance})" in reason
    assert "restart it instead" in reason
    assert aws.state(instance) == "running"


def test_replacing_a_control_plane_node_that_would_break_quorum_is_refused(
    bot: Bot, aws: Aws, kube_api_client: client.ApiClient, made: list[str]
) -> None:
    group = aws.group(unique_name("masters"), 3)
    masters = [
        add_node(kube_api_client, made, "master", labels=CONTROL_PLANE, provider_id=pid, ready=i < 2)
        for i, (_, pid) in enumerate(aws.in_service(group))
    ]
    for ready_master in masters[:2]:  # both, so the count below does not change under the refusal
        wait_node_ready(client.CoreV1Api(kube_api_client), ready_master)
    everyone = [n for n in client.CoreV1Api(kube_api_client).list_node().items if is_control_plane_node(n)]
    total, ready = len(everyone), sum(1 for n in everyone if node_is_ready(n))
    reason = refusal(bot, f"replace-node {masters[0]}")
    assert (
        f"replacing control-plane node {masters[0]} would leave {ready - 1} of {total} control-plane nodes Ready, "
        f"fewer than the majority of {total // 2 + 1}"
    ) in reason
    assert "bring the NotReady control-plane nodes back first" in reason
    assert len(aws.in_service(group)) == 3
    assert not cordoned(kube_api_client, masters[0])


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("fargate", "is an EKS Fargate node"),
        ("gce", "unknown provider `gce`"),
        ("no-provider-id", "the node has no spec.providerID"),
        ("aks", "is AKS: its agent pools are managed through the AKS API"),
        ("no-cloud", "cluster bare has no cloud configured"),
        ("wrong-cloud", "the node runs on AZURE but cluster staging is configured for AWS"),
    ],
)
def test_nodes_the_bot_cannot_replace_are_refused_with_the_reason(
    bot: Bot, kube_api_client: client.ApiClient, made: list[str], case: str, expected: str
) -> None:
    vmss = AZ_VM.replace("virtualMachines/k8s-master-0", "virtualMachineScaleSets/pool/virtualMachines/3")
    node, cluster = {
        "fargate": (
            add_node(
                kube_api_client,
                made,
                "",
                name=unique_name("fargate-ip"),
                labels={"eks.amazonaws.com/compute-type": "fargate"},
                provider_id="aws:///us-east-1a/0123abcd/fargate-ip-10-0-1-2",
            ),
            "staging",
        ),
        "gce": (add_node(kube_api_client, made, "gke", provider_id="gce://proj/europe-west1-b/gke-vm"), "staging"),
        "no-provider-id": (add_node(kube_api_client, made, "bare-metal"), "staging"),
        "aks": (add_node(kube_api_client, made, "aks", provider_id=vmss), "aks"),
        "no-cloud": (
            add_node(kube_api_client, made, "ip", provider_id="aws:///us-east-1a/i-0123456789abcdef0"),
            "bare",
        ),
        "wrong-cloud": (add_node(kube_api_client, made, "vmss", provider_id=vmss), "staging"),
    }[case]
    reason = refusal(bot, f"replace-node {node} --cluster {cluster}")
    assert expected in reason, reason
    assert not cordoned(kube_api_client, node)


def test_a_scale_set_with_an_instance_in_transition_is_refused(
    bot: Bot, arm: FakeArm, kube_api_client: client.ApiClient, made: list[str]
) -> None:
    ss = arm.add_scale_set(AZ_SUB, AZ_RG, unique_name("busy-vmss"), 3)
    node = add_node(kube_api_client, made, "vmss", provider_id=ss.provider_id("0"))
    with arm.lock:
        ss.instances["2"].state = "Deleting"
    reason = refusal(bot, f"replace-node {node} --cluster azprod")
    assert f"VM scale set {ss.name} has instances in transition (2 Deleting)" in reason
    assert "one node at a time per group" in reason
    assert len(ss.instances) == 3
    assert ss.capacity == 3


def test_one_replacement_at_a_time_per_group(bot: Bot, aws: Aws, kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    group = aws.group(unique_name("asg-one"), 2)
    joiner = KubeletJoiner(core, lambda: aws.in_service(group), {"rn-pool": group}, "ip").start()
    try:
        first, second = joiner.nodes.values()
        joiner.paused.set()  # hold the replacement's kubelet back: the first run waits
        out = bot.runs.request(f"replace-node {first} --wait 1m", who(bot, "U0ALICE"))
        assert out.ok, out.report
        assert out.run_id, out.report
        rec = bot.store.get_run(out.run_id)
        assert rec is not None
        assert bot.runs.confirm(rec.id, rec.plan_hash, who(bot, "U0ALICE")).execute
        progress: list[str] = []
        runner = threading.Thread(target=bot.runs.execute, args=(rec.id, progress.append), daemon=True)
        runner.start()
        wait_for(
            "the first run to wait",
            lambda: True if any("waiting for the replacement" in p for p in progress) else None,
            30,
        )

        reason = refusal(bot, f"replace-node {second}")
        assert f"another replacement is in progress in Auto Scaling group {group}: node {first} (run {rec.id}" in reason
        assert "one node at a time per group" in reason
        assert not cordoned(kube_api_client, second)

        joiner.paused.clear()
        runner.join(60)
        final = bot.store.get_run(rec.id)
        assert final is not None, final.outcome if final else None
        assert final.state == "succeeded", final.outcome if final else None
        assert any("no new node registered yet" in p for p in progress), progress
        # the claim ends with its run: the next replacement in the group may be planned
        again = bot.runs.request(f"replace-node {second}", who(bot, "U0ALICE"))
        assert again.ok, again.report
        assert again.pending, again.report
        assert again.run_id, again.report
        bot.runs.cancel(again.run_id, bot.store.get_run(again.run_id).plan_hash, who(bot, "U0ALICE"))  # type: ignore[union-attr]
    finally:
        joiner.paused.clear()
        joiner.stop()


def test_karpenter_node_is_replaced_by_deleting_its_nodeclaim(
    bot: Bot, namespace: str, kube_api_client: client.ApiClient
) -> None:
    install_nodeclaim_crd(kube_api_client)
    core = client.CoreV1Api(kube_api_client)
    pool = {"rn-pool": unique_name("karp")}
    karpenter = FakeKarpenter(kube_api_client, unique_name("np"), pool)
    try:
        nodes = [karpenter.provision(), karpenter.provision()]
        for name in nodes:
            wait_node_ready(core, name)
        karpenter.start()
        deployment(kube_api_client, namespace, "jobs", 2, pool)
        old_node = wait_pods_running(core, namespace, "app=jobs", 2)[0].spec.node_name
        old_claim = next(c for c, n in karpenter.claims.items() if n == old_node)

        out = bot.runs.request(f"replace-node {old_node} --wait 1m", who(bot, "U0ALICE"))
        assert out.ok, out.report
        assert out.run_id, out.report
        rec = bot.store.get_run(out.run_id)
        assert rec is not None
        assert f"delete NodeClaim {old_claim} (Karpenter NodePool {karpenter.nodepool})" in json.dumps(rec.plan)
        assert bot.runs.confirm(rec.id, rec.plan_hash, who(bot, "U0ALICE")).execute
        bot.runs.execute(rec.id)
        final = bot.store.get_run(rec.id)
        assert final is not None, final.outcome if final else None
        assert final.state == "succeeded", final.outcome if final else None
        ((gone, new_node),) = karpenter.replaced
        assert gone == old_node
        assert old_claim not in karpenter.claims
        assert wait_node_ready(core, new_node)
        assert f"replaced by {new_node}" in (final.outcome or "")
        wait_pods_running(core, namespace, "app=jobs", 2)
    finally:
        karpenter.stop()


def _start_held_replacement(bot: Bot, aws: Aws, core: client.CoreV1Api, wait: str) -> tuple[KubeletJoiner, str, str]:
    """A 1-instance group whose replacement's kubelet never joins; a confirmed run of replace-node."""
    group = aws.group(unique_name("asg-held"), 1)
    joiner = KubeletJoiner(core, lambda: aws.in_service(group), {"rn-pool": group}, "ip").start()
    joiner.paused.set()
    (node,) = joiner.nodes.values()
    out = bot.runs.request(f"replace-node {node} --wait {wait}", who(bot, "U0ALICE"))
    assert out.ok, out.report
    assert out.run_id, out.report
    rec = bot.store.get_run(out.run_id)
    assert rec is not None
    assert bot.runs.confirm(rec.id, rec.plan_hash, who(bot, "U0ALICE")).execute
    return joiner, node, rec.id


def test_no_replacement_in_time_fails_saying_what_was_done(
    bot: Bot, aws: Aws, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    joiner, node, run_id = _start_held_replacement(bot, aws, core, "3s")
    try:
        bot.runs.execute(run_id)
        rec = bot.store.get_run(run_id)
        assert rec is not None, rec
        assert rec.state == "failed", rec
        assert "no replacement node became Ready within 3s" in (rec.outcome or "")
        assert f"the old Node object {node} was not deleted" in (rec.outcome or "")
        not_done = (rec.outcome or "").split("Not done:", 1)[1]
        assert f"delete the Node object {node}" in not_done
        assert node_exists(core, node)
        assert cordoned(kube_api_client, node)
    finally:
        joiner.paused.clear()
        joiner.stop()


def test_abort_while_waiting_stops_and_reports_the_terminated_instance(
    bot: Bot, aws: Aws, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    joiner, node, run_id = _start_held_replacement(bot, aws, core, "1m")
    try:
        progress: list[str] = []
        runner = threading.Thread(target=bot.runs.execute, args=(run_id, progress.append), daemon=True)
        runner.start()
        wait_for(
            "the run to wait", lambda: True if any("waiting for the replacement" in p for p in progress) else None, 30
        )
        rec = bot.store.get_run(run_id)
        assert rec is not None
        clicked = time.monotonic()
        assert "abort requested" in (bot.runs.abort(run_id, rec.plan_hash, who(bot, "U0ALICE")).notice or "")
        runner.join(30)
        assert time.monotonic() - clicked < 5, "abort is honoured within a watch window"
        final = bot.store.get_run(run_id)
        assert final is not None, final
        assert final.state == "aborted", final
        assert "aborted while waiting for the replacement" in (final.outcome or "")
        assert f"The instance of node {node} was already terminated" in (final.outcome or "")
        assert node_exists(core, node)
    finally:
        joiner.paused.clear()
        joiner.stop()


def test_a_group_not_tagged_for_the_cluster_is_refused(bot: Bot, aws: Aws, kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    group = aws.group(unique_name("asg-other"), 1, cluster_tag="someone-elses-cluster")
    joiner = KubeletJoiner(core, lambda: aws.in_service(group), {"rn-pool": group}, "ip").start()
    try:
        (node,) = joiner.nodes.values()
        reason = refusal(bot, f"replace-node {node}")
        assert f"Auto Scaling group {group} is not tagged kubernetes.io/cluster/test-cluster" in reason
        assert "it may belong to another cluster, so nothing is terminated" in reason
        assert [i for i, _ in aws.in_service(group)] == list(joiner.nodes), "the instance is untouched"
        assert not cordoned(kube_api_client, node)
    finally:
        joiner.stop()


def test_a_scale_set_outside_the_pinned_resource_groups_is_refused(
    bot: Bot, arm: FakeArm, kube_api_client: client.ApiClient
) -> None:
    made: list[str] = []
    ss = arm.add_scale_set(AZ_SUB, "rg-someone-else", unique_name("other-vmss"), 2)
    node = add_node(kube_api_client, made, "vmss", provider_id=ss.provider_id("0"))
    reason = refusal(bot, f"replace-node {node} --cluster azprod")
    assert f"scale set {ss.name} (subscription {AZ_SUB}, resource group rg-someone-else) is not in" in reason
    assert len(ss.instances) == 2
    assert ss.capacity == 2


def test_a_node_registered_again_under_the_same_name_is_not_terminated(
    bot: Bot, aws: Aws, namespace: str, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    group = aws.group(unique_name("asg-again"), 2)
    pool = {"rn-pool": group}
    joiner = KubeletJoiner(core, lambda: aws.in_service(group), pool, "ip").start()
    try:
        node, _other = joiner.nodes.values()
        provider_id = core.read_node(node).spec.provider_id
        deployment(kube_api_client, namespace, "held", 1, {"kubernetes.io/hostname": node})
        wait_pods_running(core, namespace, "app=held", 1)
        pdb(kube_api_client, namespace, "held-pdb", "held", min_available=1)  # the drain waits here
        out = bot.runs.request(f"replace-node {node} --cluster staging --wait 1m", who(bot, "U0ALICE"))
        assert out.ok, out.report
        assert out.run_id, out.report
        rec = bot.store.get_run(out.run_id)
        assert rec is not None
        assert bot.runs.confirm(rec.id, rec.plan_hash, who(bot, "U0ALICE")).execute
        progress: list[str] = []
        runner = threading.Thread(target=bot.runs.execute, args=(rec.id, progress.append), daemon=True)
        runner.start()
        wait_for("the drain to wait on the PDB", lambda: True if any("held-pdb" in p for p in progress) else None, 30)

        joiner.paused.set()
        old_uid = core.read_node(node).metadata.uid
        core.delete_node(node)
        wait_for("the Node to be gone", lambda: True if not node_exists(core, node) else None, 30)
        create_node(core, node, labels=pool, provider_id=provider_id)  # the same name registers again
        client.PolicyV1Api(kube_api_client).delete_namespaced_pod_disruption_budget("held-pdb", namespace)
        runner.join(60)

        final = bot.store.get_run(rec.id)
        assert final is not None, final
        assert final.state == "failed", final
        assert f"node {node} is not the node that was approved (node uid {old_uid} →" in (final.outcome or "")
        assert "nothing was terminated" in (final.outcome or "")
        assert len(aws.in_service(group)) == 2, "no instance was terminated"
        assert node_exists(core, node)
    finally:
        joiner.paused.clear()
        joiner.stop()
