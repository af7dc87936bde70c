"""Alert, digest and backup records on SQLite and on a real PostgreSQL (schema version 2)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from bot.store import AlertRecord, BackupRecord, Store

pytestmark = pytest.mark.integration
T0 = datetime(2025, 3, 3, 8, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url, clock=lambda: T0)
    try:
        yield s
    finally:
        s.close()


def alert(alert_id: str, subject: str = "node/n1", **kw: object) -> AlertRecord:
    values: dict[str, object] = {
        "id": alert_id,
        "key": f"prod/node_not_ready/{subject}",
        "cluster": "prod",
        "check_name": "node_not_ready",
        "subject": subject,
        "severity": "warning",
        "state": "pending",
        "summary": "node n1 is NotReady",
        "details": {"lines": [], "actions": [{"runbook": "drain", "command": "drain n1"}]},
        "since": T0,
        "first_seen": T0,
        "last_seen": T0,
    }
    values.update(kw)
    return AlertRecord(**values)  # type: ignore[arg-type]


def test_one_open_alert_per_key_and_a_new_one_after_resolution(store: Store) -> None:
    assert store.open_alert(alert("a1"))
    assert not store.open_alert(alert("a2")), "a second open alert for the same key is refused"
    assert store.open_alert(alert("b1", subject="node/n2"))
    got = store.get_alert("a1")
    assert got is not None
    assert got.active_key == got.key
    assert got.details["actions"][0]["runbook"] == "drain"
    assert got.since == T0
    assert got.since.tzinfo is not None
    assert [a.id for a in store.open_alerts(cluster="prod")] == ["a1", "b1"]

    assert store.alert_transition("a1", ["pending"], "firing", fired_at=T0, channel="C1")
    assert not store.alert_transition("a1", ["pending"], "firing"), "compare-and-set: only once"
    assert store.alert_transition("a1", ["firing"], "resolved", resolved_at=T0 + timedelta(minutes=5))
    resolved = store.get_alert("a1")
    assert resolved is not None
    assert resolved.active_key is None
    assert resolved.state == "resolved"
    assert store.open_alert(alert("a3")), "the key is free again once resolved"
    assert [a.id for a in store.resolved_alerts(since=T0)] == ["a1"]


def test_racing_transitions_have_exactly_one_winner(store: Store) -> None:
    store.open_alert(alert("race"))
    barrier = threading.Barrier(8)

    def fire(_: int) -> bool:
        barrier.wait()
        return store.alert_transition("race", ["pending"], "firing", fired_at=T0)

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(fire, range(8))) == [False] * 7 + [True]


def test_claims_compare_null_and_times(store: Store) -> None:
    store.open_alert(alert("c1"))
    assert store.claim_alert("c1", "acked_by", None, acked_by="alice", acked_at=T0)
    assert not store.claim_alert("c1", "acked_by", None, acked_by="bob")
    first = T0 + timedelta(minutes=1)
    assert store.claim_alert("c1", "last_notified_at", None, last_notified_at=first, notify_count=1)
    assert not store.claim_alert("c1", "last_notified_at", None, last_notified_at=first)
    got = store.get_alert("c1")
    assert got is not None
    assert got.last_notified_at == first
    assert store.claim_alert(
        "c1", "last_notified_at", got.last_notified_at, last_notified_at=first + timedelta(hours=4)
    )
    assert not store.claim_alert("c1", "last_notified_at", first, last_notified_at=first)
    with pytest.raises(ValueError, match="cannot be set"):
        store.update_alert("c1", state="resolved")


def test_a_digest_is_claimed_once_per_cron_time(store: Store) -> None:
    monday = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    assert store.claim_digest("ops", monday, "replica-a")
    assert not store.claim_digest("ops", monday, "replica-b")
    store.finish_digest("ops", monday, "C0OPS", "1700.1")
    assert store.claim_digest("ops", monday + timedelta(days=1), "replica-b")
    last = store.last_digest("ops", before=monday + timedelta(days=1))
    assert last is not None
    assert last.scheduled_for == monday
    assert last.message_ts == "1700.1"
    assert store.last_digest("ops", before=monday) is None


def test_the_newest_successful_backup_is_found(store: Store) -> None:
    for i, status in enumerate(["succeeded", "succeeded", "failed"]):
        store.record_backup(
            BackupRecord(
                f"b{i}", "prod", status, T0 + timedelta(hours=i), finished_at=T0 + timedelta(hours=i, minutes=5)
            )
        )
    store.record_backup(BackupRecord("other", "staging", "succeeded", T0, finished_at=T0 + timedelta(hours=9)))
    last = store.last_backup("prod")
    assert last is not None
    assert last.id == "b1"
    assert last.finished_at == T0 + timedelta(hours=1, minutes=5)
    store.record_backup(BackupRecord("b2", "prod", "succeeded", T0, finished_at=T0 + timedelta(hours=3)))
    assert (store.last_backup("prod") or last).id == "b2", "re-recording an id updates it"
    assert store.last_backup("nowhere") is None
