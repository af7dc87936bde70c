"""The one retry policy, through the bot's real client factory, against a real scripted HTTP server.

No control plane needed: tests/harness/flaky_api.py speaks enough of the Kubernetes wire format and
records every request with its arrival time on the server side. Timing assertions are lower bounds
taken from those server-side times (a wait was at least what the server asked for), never upper
bounds on the client's wall clock.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from bot.clients.authz import missing_permissions
from bot.clients.kube import KubeAccess, KubeClients
from bot.clients.retry import RetryPolicy, bounded_by
from bot.config.settings import ApiRetrySettings, ClusterSettings, Settings
from bot.errors import TemporaryError
from bot.model import Permission
from bot.steps.drain.eviction import Evicted, PodEviction
from tests.harness.control_plane import free_port
from tests.harness.flaky_api import APPLY_THEN_RESET, CUT, RESET, FlakyApi, Status
from tests.harness.kwok_nodes import wait_for

FAST = ApiRetrySettings(deadline_seconds=20, initial_backoff_seconds=0.05, max_backoff_seconds=0.5)
NODE = "/api/v1/nodes/n1"


@pytest.fixture
def api() -> Iterator[FlakyApi]:
    server = FlakyApi()
    server.start()
    yield server
    server.stop()


def clients(kubeconfig: Path, retry: ApiRetrySettings = FAST) -> KubeClients:
    cluster = ClusterSettings(kubeconfig=kubeconfig, context="flaky", request_timeout_seconds=5, api_retry=retry)
    return KubeClients(Settings(clusters={"flaky": cluster}, default_cluster="flaky"))


@pytest.fixture
def kube(api: FlakyApi, tmp_path: Path) -> Iterator[KubeAccess]:
    factory = clients(api.kubeconfig(tmp_path))
    yield factory.access("flaky", None)
    factory.close()


def gaps(api: FlakyApi, method: str, path: str) -> list[float]:
    times = [s.at for s in api.requests(method, path)]
    return [b - a for a, b in itertools.pairwise(times)]


def test_a_read_answered_503_waits_the_servers_retry_after_then_succeeds(api: FlakyApi, kube: KubeAccess) -> None:
    api.add_script("GET", NODE, Status(503, retry_after="2"))
    node = kube.core.read_node("n1")
    assert node.metadata.uid == "uid-n1"
    assert len(api.requests("GET", NODE)) == 2
    (gap,) = gaps(api, "GET", NODE)
    assert gap >= 2.0, f"Retry-After: 2 was not honoured (the retry came {gap:.2f}s later)"


def test_a_read_survives_connection_resets_and_a_body_cut_short(api: FlakyApi, kube: KubeAccess) -> None:
    api.add_script("GET", NODE, RESET, RESET)
    assert kube.core.read_node("n1").metadata.name == "n1"
    assert len(api.requests("GET", NODE)) == 3

    api.add_pod("ns", "p1", "uid-1")
    api.add_script("GET", "/api/v1/pods", CUT)
    listed = list(kube.list_raw(kube.core.list_pod_for_all_namespaces))
    assert [p["metadata"]["uid"] for p in listed] == ["uid-1"]
    assert len(api.requests("GET", "/api/v1/pods")) == 2, "the cut list must be asked again"


def test_retries_back_off_exponentially_when_the_server_gives_no_hint(api: FlakyApi, kube: KubeAccess) -> None:
    api.add_script("GET", NODE, Status(503), Status(502), Status(500), Status(504))
    kube.core.read_node("n1")
    waits = gaps(api, "GET", NODE)
    assert len(waits) == 4
    # initial 0.05 s, doubling (plus jitter ≥ 0): each wait at least the doubled floor.
    for n, gap in enumerate(waits):
        assert gap >= 0.05 * 2**n, waits


def test_a_subject_access_review_is_retried_like_a_read(api: FlakyApi, kube: KubeAccess) -> None:
    sar = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    api.add_script("POST", sar, Status(503), RESET)
    assert missing_permissions(kube, "alice", ["sre"], [Permission(verb="get", resource="nodes")]) == []
    assert len(api.requests("POST", sar)) == 3


def test_a_write_that_may_have_been_applied_is_never_sent_again(api: FlakyApi, kube: KubeAccess) -> None:
    api.add_script("PATCH", NODE, RESET)
    with pytest.raises((urllib3.exceptions.HTTPError, OSError)):  # the connection broke: never sent again
        kube.core.patch_node("n1", {"spec": {"unschedulable": True}})
    assert len(api.requests("PATCH", NODE)) == 1

    pods = "/api/v1/namespaces/ns/pods"
    api.add_script("POST", pods, Status(503, retry_after="1"))
    with pytest.raises(ApiException) as refused:
        kube.core.create_namespaced_pod("ns", {"metadata": {"name": "x"}, "spec": {"containers": []}})
    assert refused.value.status == 503
    assert len(api.requests("POST", pods)) == 1


def test_a_write_whose_connection_was_refused_is_sent_once_the_server_is_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens yet: connections are refused, so nothing was sent
    factory = clients(FlakyApi().kubeconfig(tmp_path, port))
    kube = factory.access("flaky", None)
    result: list[object] = []
    caplog.set_level(logging.INFO, logger="bot.retry")
    worker = threading.Thread(
        target=lambda: result.append(kube.core.patch_node("n1", {"spec": {"unschedulable": True}}))
    )
    worker.start()
    wait_for("a refused attempt", lambda: True if "retrying PATCH /api/v1/nodes/n1" in caplog.text else None, 20)
    api = FlakyApi()
    api.start(port)
    try:
        worker.join(30)
        assert result
        assert result[0].metadata.name == "n1"
        assert len(api.requests("PATCH", NODE)) == 1
    finally:
        api.stop()
        factory.close()


def test_the_deadline_bounds_the_retries(api: FlakyApi, tmp_path: Path) -> None:
    factory = clients(api.kubeconfig(tmp_path), ApiRetrySettings(deadline_seconds=2, initial_backoff_seconds=0.1))
    api.add_script("GET", NODE, *[Status(503)] * 100)
    with pytest.raises(ApiException) as failed:
        factory.access("flaky", None).core.read_node("n1")
    assert failed.value.status == 503
    seen = api.requests("GET", NODE)
    assert 2 <= len(seen) < 100
    assert seen[-1].at - seen[0].at < 2.0 + 2.0, "no attempt may start after the deadline"
    factory.close()


def test_abort_ends_the_wait_between_attempts_and_sends_nothing_more(api: FlakyApi, kube: KubeAccess) -> None:
    api.add_script("GET", NODE, *[Status(503, retry_after="25")] * 5)
    abort = threading.Event()
    failures: list[BaseException] = []

    def read() -> None:
        with bounded_by(abort=abort):
            try:
                kube.core.read_node("n1")
            except ApiException as exc:
                failures.append(exc)

    worker = threading.Thread(target=read)
    worker.start()
    wait_for("the first answer", lambda: True if api.requests("GET", NODE) else None, 10)
    abort.set()
    worker.join(15)  # the server asked for 25 s: returning before that is the abort at work
    assert not worker.is_alive()
    assert [getattr(f, "status", None) for f in failures] == [503]
    assert len(api.requests("GET", NODE)) == 1


def test_a_temporary_error_delay_is_honoured(api: FlakyApi) -> None:
    """Any call raising TemporaryError(delay=…) waits that long before the next attempt."""
    url = f"http://127.0.0.1:{api.port}/busy"
    api.add_script("GET", "/busy", Status(423), Status(423))

    def call() -> int:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            if exc.code == 423:
                raise TemporaryError("the group is busy", delay=1.5) from None
            raise

    assert RetryPolicy(initial_backoff_seconds=0.01).call(call, what="busy read") == 200
    assert len(api.requests("GET", "/busy")) == 3
    assert all(gap >= 1.5 for gap in gaps(api, "GET", "/busy")), gaps(api, "GET", "/busy")


def test_an_eviction_whose_answer_was_lost_is_not_sent_again(api: FlakyApi, kube: KubeAccess) -> None:
    api.add_pod("ns", "web-1", "uid-1")
    path = "/api/v1/namespaces/ns/pods/web-1/eviction"
    api.add_script("POST", path, APPLY_THEN_RESET)
    assert PodEviction(kube, api.pods["ns/web-1"], None).run(time.monotonic() + 30, threading.Event()) is (
        Evicted.ACCEPTED
    )
    assert len(api.requests("POST", path)) == 1, "the first eviction was applied: it must not be sent twice"
    assert api.requests("GET", "/api/v1/namespaces/ns/pods"), "the pod was looked at before deciding"


def test_an_eviction_answered_5xx_is_resent_bound_to_the_pod_it_saw(api: FlakyApi, kube: KubeAccess) -> None:
    api.add_pod("ns", "web-2", "uid-2")
    pod = dict(api.pods["ns/web-2"])
    path = "/api/v1/namespaces/ns/pods/web-2/eviction"
    api.add_script("POST", path, Status(503), Status(502))
    assert PodEviction(kube, pod, 5).run(time.monotonic() + 30, threading.Event()) is Evicted.ACCEPTED
    sent = api.requests("POST", path)
    assert len(sent) == 3
    first, *resends = (s.body["deleteOptions"]["preconditions"] for s in sent)
    assert first == {"uid": "uid-2"}
    assert all(p == {"uid": "uid-2", "resourceVersion": "7"} for p in resends), resends


def test_an_eviction_refused_by_a_disruption_budget_is_handed_back_not_retried(api: FlakyApi, kube: KubeAccess) -> None:
    api.add_pod("ns", "web-3", "uid-3")
    path = "/api/v1/namespaces/ns/pods/web-3/eviction"
    api.add_script(
        "POST", path, Status(429, message="Cannot evict pod as it would violate the pod's disruption budget.")
    )
    with pytest.raises(ApiException) as refused:
        PodEviction(kube, api.pods["ns/web-3"], None).run(time.monotonic() + 30, threading.Event())
    assert refused.value.status == 429
    assert len(api.requests("POST", path)) == 1
