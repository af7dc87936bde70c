"""A sweep lists each resource type the enabled checks read, once — as the API server's audit log shows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from bot.clients.kube import Impersonation, KubeClients
from bot.config.settings import Settings
from bot.health.checks import HEALTH_CHECKS, evaluate, take_snapshot
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.kwok_nodes import create_node, unique_name, wait_for

pytestmark = pytest.mark.integration
EVERY_TYPE = {
    "nodes",
    "pods",
    "deployments",
    "statefulsets",
    "daemonsets",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "jobs",
}


def lists_by(control_plane: ControlPlane, user: str, expected: int) -> Counter[str]:
    """resource → list requests made as ``user``, once the audit log holds ``expected`` of them."""

    def probe() -> Counter[str] | None:
        events: list[dict[str, Any]] = [
            e
            for e in control_plane.read_audit_events()
            if (e.get("impersonatedUser") or {}).get("username") == user
            and e.get("verb") == "list"
            and e.get("stage") == "ResponseComplete"
        ]
        found = Counter(str((e.get("objectRef") or {}).get("resource")) for e in events)
        return found if sum(found.values()) >= expected else None

    return wait_for(f"{expected} list requests of {user} in the audit log", probe, 15)


def sweep_as(control_plane: ControlPlane, overrides: dict[str, Any]) -> tuple[str, Any, Any]:
    """Take a snapshot with ``overrides`` as an impersonated user of its own; (user, snapshot, checks)."""
    settings = Settings(
        clusters={"hc": {"kubeconfig": str(control_plane.admin_kubeconfig), "context": CONTEXT}},
        health={"checks": overrides},
        log_format="text",
    )
    user = unique_name("sweeper")
    kube = KubeClients(settings)
    checks = HEALTH_CHECKS.configure(settings.health.checks)
    access = kube.access("hc", Impersonation.of(user, ["system:masters"]))
    try:
        snap = take_snapshot(access, datetime.now(UTC), checks.resources(), checks.keepers())
    finally:
        kube.close()
    return user, snap, checks


def test_a_default_sweep_lists_every_resource_type_once(
    control_plane: ControlPlane, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("swept")
    create_node(core, name)
    try:
        user, snap, _ = sweep_as(control_plane, {})
    finally:
        core.delete_node(name)
    assert lists_by(control_plane, user, len(EVERY_TYPE)) == Counter(dict.fromkeys(EVERY_TYPE, 1))
    assert snap.not_read == frozenset()
    assert snap.errors == {}
    assert name in [n.name for n in snap.nodes], "nodes were read and reduced"
    assert snap.certificates, "the API server's serving certificate was read"


def test_a_sweep_lists_only_what_the_enabled_checks_read(control_plane: ControlPlane) -> None:
    only = {"node_not_ready", "job_failed"}
    user, snap, checks = sweep_as(
        control_plane, {n: {"enabled": False} for n in HEALTH_CHECKS.names() if n not in only}
    )
    listed = lists_by(control_plane, user, 3)
    assert listed == Counter({"nodes": 1, "pods": 1, "jobs": 1}), "pods are always read: the digest counts them"
    assert snap.not_read == {
        "deployments",
        "statefulsets",
        "daemonsets",
        "horizontalpodautoscalers",
        "poddisruptionbudgets",
        "certificates",
    }
    assert snap.certificates == []
    result = evaluate(snap, checks, datetime.now(UTC))
    assert result.evaluated == only
    assert result.skipped == {}
