"""Facts read off raw objects, as kubectl would show them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.kube_facts import age, node_state, pod_is_healthy, pod_status, workload_shortfall


def node(ready: str = "True", unschedulable: bool = False, **labels: str) -> dict:  # type: ignore[type-arg]
    return {
        "metadata": {"name": "n1", "labels": labels},
        "spec": {"unschedulable": unschedulable},
        "status": {"conditions": [{"type": "Ready", "status": ready}, {"type": "DiskPressure", "status": "True"}]},
    }


def test_node_states() -> None:
    assert node_state(node()).status == "Ready"
    assert node_state(node("False")).status == "NotReady"
    assert node_state(node("Unknown")).status == "Unknown"
    cordoned = node_state(node(unschedulable=True, **{"node-role.kubernetes.io/control-plane": ""}))
    assert cordoned.status == "Ready,SchedulingDisabled"
    assert cordoned.roles == ("control-plane",)
    assert cordoned.pressures == ("DiskPressure",)
    assert node_state({"metadata": {"name": "x"}}).ready is False


def test_pod_status_reasons() -> None:
    crash = {
        "metadata": {},
        "status": {
            "phase": "Running",
            "containerStatuses": [{"ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
        },
    }
    assert pod_status(crash) == "CrashLoopBackOff"
    assert not pod_is_healthy(crash)
    pending = {
        "metadata": {},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        },
    }
    assert pod_status(pending) == "Pending (Unschedulable)"
    evicted = {"metadata": {}, "status": {"phase": "Failed", "reason": "Evicted"}}
    assert pod_status(evicted) == "Evicted"
    ok = {
        "metadata": {},
        "status": {"phase": "Running", "containerStatuses": [{"ready": True, "state": {"running": {}}}]},
    }
    assert pod_is_healthy(ok)
    assert pod_status(ok) == "Running"
    terminating = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}}
    assert pod_status(terminating) == "Terminating"


def test_workload_shortfall() -> None:
    assert workload_shortfall("Deployment", {"spec": {"replicas": 3}, "status": {"readyReplicas": 1}}) == (1, 3)
    assert workload_shortfall("Deployment", {"spec": {"replicas": 0}, "status": {}}) is None
    assert workload_shortfall("DaemonSet", {"status": {"desiredNumberScheduled": 4, "numberReady": 4}}) is None


def test_age_formats() -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    assert age(now - timedelta(seconds=30), now) == "30s"
    assert age(now - timedelta(minutes=5), now) == "5m"
    assert age(now - timedelta(hours=3, minutes=2), now) == "3h2m"
    assert age(now - timedelta(days=3, hours=4), now) == "3d4h"
    assert age(None) == "?"
