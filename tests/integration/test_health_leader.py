"""One poster among replicas: a Lease on the real API server, a shared store, one Slack."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from kubernetes import client

from bot.clients.lease import LeaderElector, LeaseLock
from tests.harness.control_plane import ControlPlane
from tests.harness.health_setup import MovableClock, Replica, alert_posts, health_settings, make_ready, replica
from tests.harness.kwok_nodes import create_node, unique_name, wait_for
from tests.harness.slack_server import FakeSlack

pytestmark = pytest.mark.integration


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


class Ticker:
    """A monotonic clock for one elector, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(rep: Replica, lease: str, ticker: Ticker, identity: str) -> LeaderElector:
    lock = LeaseLock(rep.bot.kube.access("hc", None), "default", lease)
    return LeaderElector(lock, identity, lease_duration=15, renew_deadline=10, retry_period=2, monotonic=ticker)


def test_two_replicas_post_each_alert_once_and_the_survivor_takes_over_without_reposting(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, slack: FakeSlack, store_url: str
) -> None:
    core = client.CoreV1Api(kube_api_client)
    first_node, second_node = unique_name("sick"), unique_name("sick")
    create_node(core, first_node, ready=False)
    clock = MovableClock(timedelta(minutes=20))  # both nodes have been NotReady for longer than 15 minutes
    settings = health_settings(control_plane.admin_kubeconfig, store_url)
    lease = unique_name("lease")
    ta, tb = Ticker(), Ticker()
    a = replica(settings, slack, clock, identity="replica-a")
    b = replica(settings, slack, clock, identity="replica-b")
    ea, eb = elector(a, lease, ta, "replica-a"), elector(b, lease, tb, "replica-b")
    a.health.leadership, b.health.leadership = ea, eb
    try:

        def tick(*replicas: tuple[Replica, LeaderElector, Ticker]) -> None:
            """One retry period: every live replica campaigns, and sweeps if it leads."""
            for rep, el, ticker in replicas:
                ticker.now += 2
                if el.step():
                    rep.health.sweep()

        tick((a, ea, ta), (b, eb, tb))
        assert ea.is_leader()
        assert not eb.is_leader()
        for _ in range(3):
            tick((a, ea, ta), (b, eb, tb))
        assert len(alert_posts(slack, first_node)) == 1
        assert b.health.sweeps == 0, "the follower does not sweep"

        # Even two replicas that both believe they lead (a split brain) post once: the store decides.
        b.health.sweep()
        a.health.sweep()
        assert len(alert_posts(slack, first_node)) == 1

        # The leader dies (no release). Within lease_duration + retry_period the other leads.
        for _ in range(8):  # 16 s on the survivor's clock
            tick((b, eb, tb))
        assert eb.is_leader()
        lease_obj = client.CoordinationV1Api(kube_api_client).read_namespaced_lease(lease, "default")
        assert lease_obj.spec.holder_identity == "replica-b"
        assert lease_obj.spec.lease_transitions == 1
        tick((b, eb, tb))
        assert len(alert_posts(slack, first_node)) == 1, "the new leader does not post what was posted"

        create_node(core, second_node, ready=False)
        tick((b, eb, tb))
        tick((b, eb, tb))
        assert len(alert_posts(slack, second_node)) == 1, "new alerts are posted once by the new leader"

        make_ready(core, first_node)
        tick((b, eb, tb))
        ts = slack.posted_ts(alert_posts(slack, first_node)[0])
        assert [c.args["ts"] for c in slack.of("chat.update")].count(ts) == 1, "the old leader's message is resolved"
    finally:
        a.close()
        b.close()


def test_background_election_hands_over_after_the_leader_stops(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, slack: FakeSlack, tmp_path: object
) -> None:
    """The real wiring: elector threads and APScheduler; a crashed leader is replaced, nothing posted twice."""
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("sick")
    create_node(core, name, ready=False)
    clock = MovableClock(timedelta(minutes=20))
    election = {
        "namespace": "default",
        "lease_name": unique_name("lease"),
        "lease_duration_seconds": 3,
        "renew_deadline_seconds": 2,
        "retry_period_seconds": 0.5,
    }
    settings = health_settings(
        control_plane.admin_kubeconfig, f"sqlite:///{tmp_path}/h.sqlite3", interval_seconds=1, leader_election=election
    )
    a = replica(settings, slack, clock, identity="replica-a")
    b = replica(settings, slack, clock, identity="replica-b")
    try:
        a.health.start()
        b.health.start()
        leader = wait_for("a leader", lambda: next((r for r in (a, b) if r.health.is_leader()), None), 30)
        follower = b if leader is a else a
        assert leader.health.wait_for_sweeps(2, timeout=30)
        assert len(alert_posts(slack, name)) == 1
        assert follower.health.sweeps == 0

        leader.health.stop(release=False)  # a crash: the lease is left to expire
        wait_for("the follower to lead", lambda: True if follower.health.is_leader() else None, 30)
        assert follower.health.wait_for_sweeps(2, timeout=30)
        assert len(alert_posts(slack, name)) == 1

        follower.health.stop()  # a clean shutdown releases the lease
        lease_obj = client.CoordinationV1Api(kube_api_client).read_namespaced_lease(election["lease_name"], "default")
        assert lease_obj.spec.holder_identity in (None, "")
    finally:
        a.close()
        b.close()
