"""``node_tainted`` against the real API server: a leftover taint alerts after an hour and resolves when removed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from tests.harness.control_plane import ControlPlane
from tests.harness.health_setup import MovableClock, alert_posts, health_settings, replica
from tests.harness.kwok_nodes import create_node, unique_name
from tests.harness.slack_flow import all_text
from tests.harness.slack_server import FakeSlack

pytestmark = pytest.mark.integration


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def core(kube_api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api_client)


@pytest.fixture
def nodes(core: client.CoreV1Api) -> Iterator[list[str]]:
    """Names of the nodes a test creates; deleted afterwards so later sweeps do not see their taints."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            core.delete_node(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


def set_taints(core: client.CoreV1Api, name: str, taints: list[dict[str, Any]]) -> None:
    core.patch_node(name, {"spec": {"taints": taints}})


def test_a_leftover_taint_fires_after_an_hour_and_resolves_when_removed(
    control_plane: ControlPlane, core: client.CoreV1Api, slack: FakeSlack, nodes: list[str], tmp_path: object
) -> None:
    fresh, old = unique_name("tainted"), unique_name("tainted")
    nodes += [fresh, old]
    create_node(core, fresh)
    create_node(core, old)
    set_taints(core, fresh, [{"key": "maintenance", "value": "disk-swap", "effect": "NoSchedule"}])
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    set_taints(core, old, [{"key": "drain-test", "effect": "NoExecute", "timeAdded": two_hours_ago}])
    clock = MovableClock()
    rep = replica(health_settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path}/h.sqlite3"), slack, clock)
    try:
        rep.health.sweep()
        (posted,) = alert_posts(slack, old)
        text = all_text(posted.args["blocks"])
        assert f"[info] Node tainted for long: node/{old} on hc" in text, "tainted 2h ago by timeAdded: fires at once"
        assert f"node {old} is tainted drain-test:NoExecute" in text
        assert alert_posts(slack, fresh) == [], "no timeAdded: counted from first seen"

        clock.advance(timedelta(minutes=59))
        rep.health.sweep()
        assert alert_posts(slack, fresh) == []
        clock.advance(timedelta(minutes=2))
        rep.health.sweep()
        (fresh_post,) = alert_posts(slack, fresh)
        assert f"node {fresh} is tainted maintenance=disk-swap:NoSchedule" in all_text(fresh_post.args["blocks"])

        set_taints(core, fresh, [])
        rep.health.sweep()
        ts = slack.posted_ts(fresh_post)
        (update,) = [c for c in slack.of("chat.update") if c.args["ts"] == ts]
        assert f"Resolved: Node tainted for long: node/{fresh}" in all_text(update.args["blocks"])
        assert [a.subject for a in rep.bot.store.open_alerts(cluster="hc") if a.check_name == "node_tainted"] == [
            f"node/{old}"
        ]
    finally:
        rep.close()
