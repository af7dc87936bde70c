"""``node_tainted``: NoSchedule/NoExecute taints that are not a cordon's, not Kubernetes' own, not meant to stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.health.checks import HEALTH_CHECKS, ChecksConfig, Finding, evaluate
from bot.health.checks.snapshot import snapshot_of

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def node(name: str, *taints: dict[str, Any], unschedulable: bool = False) -> dict[str, Any]:
    spec = {"unschedulable": unschedulable, "taints": list(taints)}
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2025-03-01T00:00:00Z"}
    return {"metadata": {"name": name}, "spec": spec, "status": {"conditions": [ready]}}


def taint(key: str, effect: str = "NoSchedule", value: str | None = None, ago: timedelta | None = None) -> dict:
    t: dict[str, Any] = {"key": key, "effect": effect}
    if value is not None:
        t["value"] = value
    if ago is not None:
        t["timeAdded"] = (NOW - ago).strftime("%Y-%m-%dT%H:%M:%SZ")
    return t


def tainted(nodes: list[dict[str, Any]], checks: ChecksConfig | None = None) -> list[Finding]:
    checks = checks or HEALTH_CHECKS.configure()
    snap = snapshot_of("prod", NOW, {"nodes": nodes}, checks.keepers())
    result = evaluate(snap, checks, NOW)
    assert "node_tainted" in result.evaluated
    return [f for f in result.findings if f.check == "node_tainted"]


def test_a_leftover_taint_is_found_since_it_was_added_as_info_after_an_hour() -> None:
    (found,) = tainted([node("gpu-1", taint("dedicated", value="gpu", ago=timedelta(hours=3))), node("plain")])
    assert found.subject == "node/gpu-1"
    assert found.summary == "node gpu-1 is tainted dedicated=gpu:NoSchedule"
    assert found.since == NOW - timedelta(hours=3)
    settings = HEALTH_CHECKS.configure().get("node_tainted")
    assert (found.severity, settings.duration) == ("info", timedelta(hours=1))


def test_without_time_added_the_alert_counts_from_first_seen() -> None:
    (found,) = tainted([node("n1", taint("maintenance", effect="NoExecute"))])
    assert found.since is None, "the lifecycle then starts the clock when it first sees it"


def test_the_oldest_recorded_taint_dates_a_node_with_several() -> None:
    taints = [taint("a", ago=timedelta(minutes=5)), taint("b", effect="NoExecute", ago=timedelta(hours=2)), taint("c")]
    (found,) = tainted([node("n1", *taints)])
    assert found.since == NOW - timedelta(hours=2)
    assert found.summary == "node n1 is tainted a:NoSchedule, b:NoExecute, c:NoSchedule"


def test_cordons_conditions_soft_taints_and_control_plane_roles_are_not_reported() -> None:
    nodes = [
        node("cordoned", taint("node.kubernetes.io/unschedulable", ago=timedelta(days=2)), unschedulable=True),
        node(
            "down",
            taint("node.kubernetes.io/not-ready", effect="NoExecute", ago=timedelta(hours=5)),
            taint("node.kubernetes.io/unreachable", effect="NoSchedule", ago=timedelta(hours=5)),
        ),
        node("soft", taint("dedicated", effect="PreferNoSchedule", ago=timedelta(days=1))),
        node("cp", taint("node-role.kubernetes.io/control-plane", ago=timedelta(days=30))),
    ]
    assert tainted(nodes) == []


def test_ignored_keys_are_an_override_of_their_own() -> None:
    nodes = [node("cp", taint("node-role.kubernetes.io/control-plane")), node("gpu", taint("dedicated"))]
    checks = HEALTH_CHECKS.configure({"node_tainted": {"ignored_keys": ["dedicated"]}})
    assert [f.subject for f in tainted(nodes, checks)] == ["node/cp"]
    assert checks.get("node_tainted").duration == timedelta(hours=1), "the other defaults stay"
    problems = HEALTH_CHECKS.problems({"node_tainted": {"ignored_keys": "dedicated"}})
    assert [loc for loc, _ in problems] == [("node_tainted", "ignored_keys")]
