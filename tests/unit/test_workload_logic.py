"""Workload logic without a cluster: rollout verdicts, HPA bounds, quorum, failing pods, redaction, triage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.steps.triage.findings import findings, version_skew
from bot.steps.triage.step import quantity, usage_lines
from bot.steps.workloads.redact import redact_text
from bot.steps.workloads.restart_failed import failing_pods, failing_reason
from bot.steps.workloads.rollout import rollout_state
from bot.steps.workloads.scale import hpa_change, quorum_warning


def dep(
    replicas: int, updated: int, total: int, available: int, *, gen: int = 2, observed: int = 2, **extra: Any
) -> dict[str, Any]:
    return {
        "metadata": {"generation": gen},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "replicas": total,
            "availableReplicas": available,
            **extra,
        },
    }


@pytest.mark.parametrize(
    ("obj", "done", "line"),
    [
        (dep(3, 3, 3, 3, gen=3, observed=2), False, "waiting for the controller to see the change"),
        (dep(3, 1, 4, 3), False, "1 of 3 new pods created, 3 available"),
        (dep(3, 3, 4, 3), False, "all 3 new pods created; 1 old pod left"),
        (dep(3, 3, 3, 2), False, "2 of 3 new pods available"),
        (dep(3, 3, 3, 3), True, "3 new pods available, old pods gone"),
    ],
)
def test_deployment_rollout_verdicts_follow_kubectl(obj: dict[str, Any], done: bool, line: str) -> None:
    state = rollout_state("Deployment", obj)
    assert (state.done, state.line) == (done, line)


def test_a_deployment_past_its_progress_deadline_failed() -> None:
    cond = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": "ReplicaSet web-1 has timed out",
    }
    state = rollout_state("Deployment", dep(3, 1, 4, 3, conditions=[cond]))
    assert state.failed == "ReplicaSet web-1 has timed out"
    assert not state.done


def test_statefulset_and_daemonset_verdicts() -> None:
    sts = {
        "metadata": {"generation": 1},
        "spec": {"replicas": 3},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": 3,
            "updatedReplicas": 1,
            "currentRevision": "a",
            "updateRevision": "b",
        },
    }
    assert rollout_state("StatefulSet", sts).line == "1 of 3 pods updated"
    sts["status"]["currentRevision"] = "b"
    assert rollout_state("StatefulSet", sts).done
    ds = {
        "metadata": {"generation": 1},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": 4,
            "updatedNumberScheduled": 4,
            "numberAvailable": 3,
        },
    }
    assert rollout_state("DaemonSet", ds).line == "3 of 4 updated pods available"


def test_adjusting_an_hpa_moves_the_bound_on_the_side_of_the_change() -> None:
    assert hpa_change((2, 5), current=3, wanted=6) == (6, 6)
    assert hpa_change((2, 5), current=3, wanted=4) == (4, 5)
    assert hpa_change((2, 5), current=3, wanted=1) == (1, 1)
    assert hpa_change((2, 5), current=3, wanted=3) == (2, 5)


def test_quorum_warnings() -> None:
    names = ["etcd", "zookeeper"]
    assert quorum_warning("web", {}, 3, 2, names, "q") is None
    assert quorum_warning("etcd-main", {}, 3, 3, names, "q") is None
    text = quorum_warning("etcd-main", {}, 5, 4, names, "q") or ""
    assert "majority of 3" in text
    assert "an even size (4)" in text
    assert "membership" in text
    assert (
        quorum_warning("store", {"q": "true"}, 3, 5, names, "q")
        == "store looks quorum-based: 3 → 5 members; a majority of 3 must stay up"
    )


def pod(
    name: str, reason: str | None, *, owner: str | None = "web-5d8", restarts: int = 0, terminated: bool = False
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}}
    if reason:
        state = {"terminated": {"reason": reason}} if terminated else {"waiting": {"reason": reason}}
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "labels": {"app": "web", "pod-template-hash": "5d8"}}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "controller": True}]
    return {
        "metadata": meta,
        "status": {"phase": "Running", "containerStatuses": [{"restartCount": restarts, "state": state}]},
    }


def test_failing_pods_are_the_ones_kubectl_shows_failing() -> None:
    pods = [
        pod("a", "CrashLoopBackOff", restarts=7),
        pod("b", "ImagePullBackOff"),
        pod("c", "Error", terminated=True, restarts=2),
        pod("d", None),
        pod("e", "ContainerCreating"),
        pod("f", "CrashLoopBackOff", owner=None, restarts=1),
    ]
    assert [failing_reason(p) for p in pods] == [
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "Error",
        None,
        None,
        "CrashLoopBackOff",
    ]
    found = failing_pods(pods, None)
    assert [(p.name, p.restarts, p.owner) for p in found] == [
        ("a", 7, "Deployment/web"),
        ("c", 2, "Deployment/web"),
        ("f", 1, None),
        ("b", 0, "Deployment/web"),
    ]
    web = {"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}}
    other = {"metadata": {"name": "api"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}}
    assert {p.name for p in failing_pods(pods, web)} == {"a", "b", "c"}
    assert failing_pods(pods, other) == [], "selected by it, but owned by another Deployment"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("password=hunter2 user=bob", "password=[redacted] user=bob"),
        ('{"client_secret": "s3cr3t", "ok": true}', '{"client_secret": "[redacted]", "ok": true}'),
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [redacted]"),
        ("key AKIAIOSFODNN7EXAMPLE used", "key [redacted] used"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key=[redacted]"),
        ("sa eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig-nature_x end", "sa [redacted] end"),
        ("postgres://app:pa55@db:5432/x", "postgres://app:[redacted]@db:5432/x"),
        ("slack xoxb-1234-5678-abcdefgh", "slack [redacted]"),
        ("GET /healthz 200 3ms", "GET /healthz 200 3ms"),
        ("tokens_processed=12", "tokens_processed=12"),
    ],
)
def test_redaction(line: str, expected: str) -> None:
    assert redact_text(line)[0] == expected


def test_a_private_key_block_is_redacted_whole() -> None:
    text, n = redact_text("before\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\nabc=\n-----END EC PRIVATE KEY-----\nafter")
    assert n == 1
    assert "MHcCAQEE" not in text
    assert text.startswith("before\n")
    assert text.endswith("\nafter")


def test_triage_findings_offer_the_runbooks_that_apply() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    node = {
        "metadata": {"name": "n1"},
        "spec": {
            "taints": [
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2026-01-02T11:00:00Z"}
            ]
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "Unknown",
                    "reason": "NodeStatusUnknown",
                    "lastTransitionTime": "2026-01-02T11:00:00Z",
                },
                {"type": "DiskPressure", "status": "True", "message": "disk 95% full"},
            ],
            "nodeInfo": {"kubeletVersion": "v1.31.0"},
        },
    }
    found = findings(node, [], "prod", "v1.36.3", now)
    titles = [f.title for f in found]
    assert titles == [
        "n1 is Unknown",
        "n1 reports DiskPressure",
        "the node controller tainted it",
        "kubelet version skew",
    ]
    assert [r.command for r in found[0].runs] == [
        "cordon n1 --cluster prod",
        "drain n1 --cluster prod",
        "replace-node n1 --cluster prod",
    ]
    assert "since 2026-01-02 11:00 UTC" in found[0].lines[0]
    assert "5 minor versions behind" in found[3].lines[0]
    assert version_skew("v1.36.1", "v1.35.0") == "kubelet v1.36.1 is newer than the API server v1.35.0: unsupported"
    assert version_skew("v1.34.2", "v1.36.3") is None


def test_usage_from_node_metrics() -> None:
    assert quantity("250m") == 0.25
    assert quantity("2Gi") == 2 * 2**30
    assert quantity("1500000n") == 0.0015
    node = {"status": {"allocatable": {"cpu": "4", "memory": "16Gi"}}}
    assert usage_lines({"usage": {"cpu": "1200m", "memory": "4Gi"}}, node) == [
        "CPU 1.2 of 4.0 cores (30%)",
        "memory 4.0 of 16.0 GiB (25%)",
    ]
