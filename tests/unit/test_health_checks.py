"""Health checks: pure functions over a snapshot of raw Kubernetes objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.clients.certs import CertificateInfo
from bot.health.checks import HEALTH_CHECKS, BackupStatus, ClusterSnapshot, Finding, evaluate
from bot.health.checks.facts import hpa_facts, job_facts, node_facts, pdb_facts, pod_facts, workload_facts

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def ts(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name: str, *, ready: bool = True, cordoned: bool = False, roles: tuple[str, ...] = (), **conds: bool) -> dict:
    conditions = [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ts(timedelta(minutes=20))}
    ]
    conditions += [
        {"type": t, "status": "True", "lastTransitionTime": ts(timedelta(minutes=12))} for t, v in conds.items() if v
    ]
    labels = {f"node-role.kubernetes.io/{r}": "" for r in roles}
    spec: dict[str, Any] = {"unschedulable": cordoned}
    if cordoned:
        spec["taints"] = [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": ts(timedelta(hours=30))}
        ]
    return {"metadata": {"name": name, "labels": labels}, "spec": spec, "status": {"conditions": conditions}}


def pod(
    name: str,
    ns: str = "app",
    *,
    phase: str = "Running",
    ready: bool = True,
    waiting: str | None = None,
    owner: tuple[str, str] | None = ("ReplicaSet", "web-abc12"),
    labels: dict[str, str] | None = None,
    created: timedelta = timedelta(hours=2),
) -> dict:
    labels = {"app": "web", "pod-template-hash": "abc12", **(labels or {})}
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels, "creationTimestamp": ts(created)}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    status: dict[str, Any] = {"phase": phase, "containerStatuses": [{"name": "c", "ready": ready, "state": state}]}
    if phase == "Pending" and not waiting:
        status = {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "lastTransitionTime": ts(created),
                }
            ],
        }
    return {"metadata": meta, "spec": {"nodeName": "n1"}, "status": status}


def snapshot(**lists: list[dict]) -> ClusterSnapshot:
    snap = ClusterSnapshot(cluster="prod", taken_at=NOW)
    snap.nodes = [node_facts(o) for o in lists.get("nodes", [])]
    snap.pods = [pod_facts(o) for o in lists.get("pods", [])]
    snap.workloads = [workload_facts(k)(o) for k, o in lists.get("workloads", [])]  # type: ignore[misc]
    snap.hpas = [hpa_facts(o) for o in lists.get("hpas", [])]
    snap.pdbs = [pdb_facts(o) for o in lists.get("pdbs", [])]
    snap.jobs = [j for j in (job_facts(o) for o in lists.get("jobs", [])) if j]
    return snap


def by_check(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


def test_not_ready_node_is_found_with_its_transition_time_and_drain_first() -> None:
    result = evaluate(snapshot(nodes=[node("n1"), node("n2", ready=False)]), HEALTH_CHECKS.configure(), NOW)
    (f,) = by_check(result.findings)["node_not_ready"]
    assert f.subject == "node/n2"
    assert "NotReady" in f.summary
    assert f.severity == "warning"
    assert f.since == NOW - timedelta(minutes=20)
    assert [a.runbook for a in f.actions] == ["drain", "replace-node", "pods"]
    assert f.actions[0].command == "drain n2 --cluster prod"


def test_a_cordoned_not_ready_node_is_maintenance_not_an_outage() -> None:
    found = by_check(
        evaluate(snapshot(nodes=[node("n2", ready=False, cordoned=True)]), HEALTH_CHECKS.configure(), NOW).findings
    )
    assert "node_not_ready" not in found
    (cordoned,) = found["node_cordoned"]
    assert cordoned.since == NOW - timedelta(hours=30)
    assert cordoned.actions[0].command == "uncordon n2 --cluster prod"


def test_pressure_conditions_are_reported_with_their_start() -> None:
    found = by_check(
        evaluate(
            snapshot(nodes=[node("n1", MemoryPressure=True, DiskPressure=True)]), HEALTH_CHECKS.configure(), NOW
        ).findings
    )
    (f,) = found["node_pressure"]
    assert "DiskPressure" in f.summary
    assert "MemoryPressure" in f.summary
    assert f.severity == "info"


def test_crash_looping_pods_are_one_alert_per_workload() -> None:
    pods = [pod(f"web-abc12-{i}", ready=False, waiting="CrashLoopBackOff") for i in range(30)]
    pods.append(pod("solo", ready=False, waiting="CrashLoopBackOff", owner=None))
    found = by_check(evaluate(snapshot(pods=pods), HEALTH_CHECKS.configure(), NOW).findings)["pod_crash_looping"]
    assert sorted(f.subject for f in found) == ["deployment/app/web", "pod/app/solo"]
    web = next(f for f in found if f.subject == "deployment/app/web")
    assert "30 pods crash-looping" in web.summary
    assert len(web.details) == 5
    assert [a.runbook for a in web.actions] == ["restart-failed", "delete-pod"]


def test_waiting_and_pending_pods() -> None:
    pods = [
        pod("img", ready=False, waiting="ImagePullBackOff", phase="Pending"),
        pod("cfg", ready=False, waiting="CreateContainerConfigError", phase="Pending", owner=("StatefulSet", "db")),
        pod("starting", ready=False, waiting="ContainerCreating", phase="Pending", owner=("DaemonSet", "agent")),
        pod("unsched", phase="Pending", owner=("Job", "nightly"), created=timedelta(minutes=40)),
    ]
    found = by_check(evaluate(snapshot(pods=pods), HEALTH_CHECKS.configure(), NOW).findings)
    assert {f.subject for f in found["container_waiting"]} == {"deployment/app/web", "statefulset/app/db"}
    pending = {f.subject: f for f in found["pod_pending"]}
    assert set(pending) == {"daemonset/app/agent", "job/app/nightly"}
    assert pending["job/app/nightly"].since == NOW - timedelta(minutes=40)


def test_workloads_hpas_jobs() -> None:
    deploy = {"metadata": {"name": "api", "namespace": "app"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 1}}
    fine = {"metadata": {"name": "ok", "namespace": "app"}, "spec": {"replicas": 2}, "status": {"readyReplicas": 2}}
    ds = {
        "metadata": {"name": "agent", "namespace": "kube-system"},
        "status": {"desiredNumberScheduled": 5, "currentNumberScheduled": 3, "numberReady": 3},
    }
    hpa = {
        "metadata": {"name": "api", "namespace": "app"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "minReplicas": 2, "maxReplicas": 10},
        "status": {
            "currentReplicas": 10,
            "conditions": [
                {"type": "ScalingLimited", "status": "True", "lastTransitionTime": ts(timedelta(minutes=30))}
            ],
        },
    }
    pinned = {
        "metadata": {"name": "pinned", "namespace": "app"},
        "spec": {"minReplicas": 3, "maxReplicas": 3},
        "status": {"currentReplicas": 3},
    }
    job = {
        "metadata": {
            "name": "backup-1",
            "namespace": "ops",
            "ownerReferences": [{"kind": "CronJob", "name": "backup"}],
        },
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "lastTransitionTime": ts(timedelta(hours=1)),
                }
            ]
        },
    }
    done = {
        "metadata": {"name": "ok", "namespace": "ops"},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]},
    }
    snap = snapshot(
        workloads=[("Deployment", deploy), ("Deployment", fine), ("DaemonSet", ds)],
        hpas=[hpa, pinned],
        jobs=[job, done],
    )
    found = by_check(evaluate(snap, HEALTH_CHECKS.configure(), NOW).findings)
    assert [f.summary for f in found["replicas_mismatch"]] == ["deployment/api in app: 1/3 replicas ready"]
    assert [f.subject for f in found["daemonset_not_scheduled"]] == ["daemonset/kube-system/agent"]
    (maxed,) = found["hpa_maxed_out"]
    assert maxed.subject == "hpa/app/api"
    assert maxed.since == NOW - timedelta(minutes=30)
    (failed,) = found["job_failed"]
    assert "BackoffLimitExceeded" in failed.summary
    assert "cronjob backup" in failed.summary


def pdb(name: str, selector: dict | None, allowed: int = 1, expected: int = 2) -> dict:
    return {
        "metadata": {"name": name, "namespace": "app"},
        "spec": {"selector": selector},
        "status": {
            "disruptionsAllowed": allowed,
            "expectedPods": expected,
            "conditions": [
                {
                    "type": "DisruptionAllowed",
                    "status": "False" if not allowed else "True",
                    "lastTransitionTime": ts(timedelta(hours=2)),
                }
            ],
        },
    }


def test_pdbs_blocking_and_overlapping() -> None:
    pods = [pod("web-1"), pod("web-2", labels={"tier": "front"}), pod("other", labels={"app": "other"})]
    pdbs = [
        pdb("web", {"matchLabels": {"app": "web"}}),
        pdb("front", {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}),
        pdb("frozen", {"matchLabels": {"app": "other"}}, allowed=0, expected=1),
    ]
    found = by_check(evaluate(snapshot(pods=pods, pdbs=pdbs), HEALTH_CHECKS.configure(), NOW).findings)
    (blocking,) = found["pdb_blocking"]
    assert blocking.subject == "pdb/app/frozen"
    assert blocking.since == NOW - timedelta(hours=2)
    (overlap,) = found["pod_multiple_pdbs"]
    assert overlap.subject == "pdb/app/front+web"
    assert overlap.details == ("web-2",)


def test_control_plane_quorum_and_even_members() -> None:
    nodes = [
        node("cp1", roles=("control-plane",)),
        node("cp2", ready=False, roles=("control-plane",)),
        node("cp3", ready=False, roles=("control-plane",)),
    ]
    etcd = [
        pod(f"etcd-cp{i}", "kube-system", owner=("Node", f"cp{i}"), labels={"component": "etcd"}, ready=i == 1)
        for i in (1, 2, 3, 4)
    ]
    found = by_check(evaluate(snapshot(nodes=nodes, pods=etcd), HEALTH_CHECKS.configure(), NOW).findings)
    quorum = {f.subject: f for f in found["control_plane_quorum"]}
    assert quorum["control-plane/control-plane"].summary.startswith("1 of 3 control-plane nodes healthy")
    assert quorum["control-plane/etcd"].severity == "critical"
    (even,) = found["control_plane_even_members"]
    assert even.subject == "control-plane/etcd"
    assert "4 etcd members" in even.summary


def test_certificates_warn_then_critical() -> None:
    snap = snapshot()
    snap.certificates = [
        CertificateInfo("API server serving certificate", "kube-apiserver", NOW + timedelta(days=5)),
        CertificateInfo("kubeconfig client certificate", "admin", NOW + timedelta(hours=12)),
        CertificateInfo("kubeconfig client certificate", "other", NOW + timedelta(days=60)),
    ]
    found = {f.subject: f for f in evaluate(snap, HEALTH_CHECKS.configure(), NOW).findings}
    assert set(found) == {"certificate/serving/kube-apiserver", "certificate/client/admin"}
    assert found["certificate/serving/kube-apiserver"].severity == "warning"
    assert found["certificate/client/admin"].severity == "critical"
    assert "expires in 12h" in found["certificate/client/admin"].summary


def test_backup_age() -> None:
    cfg = HEALTH_CHECKS.configure()
    fresh = BackupStatus(NOW - timedelta(hours=3), "store", timedelta(hours=26))
    stale = BackupStatus(NOW - timedelta(hours=30), "store", timedelta(hours=26))
    none = BackupStatus(None, "store", timedelta(hours=26))
    assert evaluate(snapshot(), cfg, NOW, fresh).findings == []
    (late,) = evaluate(snapshot(), cfg, NOW, stale).findings
    assert "1d6h old (allowed 1d2h" in late.summary
    assert late.since == NOW - timedelta(hours=4)
    (missing,) = evaluate(snapshot(), cfg, NOW, none).findings
    assert "no successful etcd backup" in missing.summary
    assert "etcd_backup_age" not in evaluate(snapshot(), cfg, NOW).evaluated


def test_checks_needing_an_unreadable_resource_are_skipped_not_cleared() -> None:
    snap = snapshot(nodes=[node("n2", ready=False)])
    snap.errors["poddisruptionbudgets"] = "forbidden: the bot may not list it"
    result = evaluate(snap, HEALTH_CHECKS.configure(), NOW)
    assert "pdb_blocking" not in result.evaluated
    assert "pod_multiple_pdbs" not in result.evaluated
    assert "forbidden" in result.skipped["pdb_blocking"]
    assert "node_not_ready" in result.evaluated


def test_disabled_checks_and_severity_overrides() -> None:
    cfg = HEALTH_CHECKS.configure({"node_not_ready": {"severity": "critical"}, "node_pressure": {"enabled": False}})
    assert cfg.node_not_ready.duration == timedelta(minutes=15), "a partial override keeps the other defaults"
    result = evaluate(snapshot(nodes=[node("n2", ready=False, MemoryPressure=True)]), cfg, NOW)
    assert [(f.check, f.severity) for f in result.findings] == [("node_not_ready", "critical")]
    assert "node_pressure" not in result.evaluated


def test_the_cyclic_gc_pause_nests_across_threads_and_restores_the_state() -> None:
    import gc
    import threading

    from bot.health.checks.snapshot import cyclic_gc_paused

    assert gc.isenabled()
    inner_entered, release = threading.Event(), threading.Event()

    def other_sweep() -> None:
        with cyclic_gc_paused():
            inner_entered.set()
            release.wait(5)

    with cyclic_gc_paused():
        assert not gc.isenabled()
        t = threading.Thread(target=other_sweep)
        t.start()
        inner_entered.wait(5)
    assert not gc.isenabled(), "still paused while the other sweep runs"
    release.set()
    t.join(5)
    assert gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled(), "a collector disabled by someone else stays disabled"
    finally:
        gc.enable()
