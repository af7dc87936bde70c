"""``bot.store`` against real databases: every test runs on SQLite and on a real PostgreSQL.

The concurrency tests race real threads and real OS processes on the same database: a state
transition (the compare-and-set behind "a double-clicked button executes once") must be won by
exactly one of them.
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

import bot.store
from bot.errors import ConfigError
from bot.store import LATEST_VERSION, ApprovalRecord, AuditEvent, RunRecord, Store
from tests.harness.control_plane import free_port

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


class SteppingClock:
    """A clock that starts at ``T0`` and moves one second forward each time it is read."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(seconds=1)
            return self.now


def make_run(run_id: str | None = None, **overrides: Any) -> RunRecord:
    """A destructive drain run awaiting approval, with nested JSON in plan and policy."""
    values: dict[str, Any] = {
        "id": run_id or uuid.uuid4().hex[:12],
        "runbook": "drain",
        "risk": "destructive",
        "cluster": "prod-eu",
        "namespace": "default",
        "command": "drain node-1 --reason 'kernel patch'",
        "requester_chat_id": "U111",
        "requester_name": "alice",
        "kube_user": "alice@example.com",
        "kube_groups": ["sre", "oncall"],
        "state": "awaiting_approval",
        "plan": {"steps": [{"verb": "cordon", "node": "node-1"}, {"verb": "evict", "pods": 3}], "note": "ünïcode ✓"},
        "plan_hash": "sha256:abc",
    }
    values.update(overrides)
    return RunRecord(**values)


def _ids(runs: list[RunRecord]) -> list[str]:
    """The ids of ``runs``, in order."""
    return [r.id for r in runs]


@pytest.fixture
def clock() -> SteppingClock:
    """The clock of the ``store`` fixture."""
    return SteppingClock()


@pytest.fixture
def store(store_url: str, clock: SteppingClock) -> Iterator[Store]:
    """A migrated store on a fresh database, with a stepping clock."""
    s = Store.open(store_url, clock=clock)
    try:
        yield s
    finally:
        s.close()


# ------------------------------------------------------------------------------------- runs
def test_create_and_get_round_trip_keeps_aware_utc_times_and_json(store: Store, clock: SteppingClock) -> None:
    paris = timezone(timedelta(hours=2))
    rec = make_run(
        "r1",
        request_key="trigger-1",
        channel="C1",
        message_ts="1700000000.000100",
        approvals_required=2,
        policy={"approvers": {"groups": ["sre-leads"]}, "expires_minutes": 15, "self_approval": False},
        expires_at=datetime(2025, 3, 1, 14, 15, 0, 500, tzinfo=paris),
        kube_user=None,
    )
    assert store.create_run(rec) is True
    assert rec.created_at == clock.now  # stamped by the store, on the record too
    assert rec.updated_at == rec.created_at

    got = store.get_run("r1")
    assert got == rec
    assert got is not None
    for value in (got.created_at, got.updated_at, got.expires_at):
        assert value is not None
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert got.expires_at == datetime(2025, 3, 1, 12, 15, 0, 500, tzinfo=UTC)
    assert got.plan["steps"][1] == {"verb": "evict", "pods": 3}
    assert got.plan["note"] == "ünïcode ✓"
    assert got.kube_groups == ["sre", "oncall"]
    assert got.kube_user is None
    assert got.started_at is None
    assert got.heartbeat_at is None
    assert store.get_run("nope") is None


def test_duplicate_request_key_is_rejected_and_writes_nothing(store: Store) -> None:
    assert store.create_run(make_run("first", request_key="trigger-7")) is True
    assert store.create_run(make_run("second", request_key="trigger-7", runbook="scale")) is False
    assert store.get_run("second") is None
    first = store.get_run("first")
    assert first is not None
    assert first.runbook == "drain"

    # runs without a request key never collide with each other
    assert store.create_run(make_run("a", request_key=None)) is True
    assert store.create_run(make_run("b", request_key=None)) is True
    # the same id with another key is a programming error, not a Slack retry
    with pytest.raises(ValueError, match="already exists"):
        store.create_run(make_run("a", request_key="trigger-8"))


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.create_run(make_run("r1", expires_at=datetime(2025, 1, 1, 12, 0)))
    assert store.get_run("r1") is None
    store.create_run(make_run("r2"))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.update_run("r2", heartbeat_at=datetime(2025, 1, 1, 12, 0))


def test_transition_is_compare_and_set_and_sets_fields(store: Store) -> None:
    rec = make_run("r1")
    store.create_run(rec)
    started = datetime(2025, 3, 1, 13, 0, tzinfo=UTC)

    assert store.transition("r1", ["awaiting_confirmation"], "queued") is False  # wrong state: nothing changes
    assert store.transition("r1", [], "running") is False
    assert store.transition("missing", ["awaiting_approval"], "queued") is False
    unchanged = store.get_run("r1")
    assert unchanged is not None
    assert unchanged.state == "awaiting_approval"
    assert unchanged.updated_at == rec.updated_at

    assert store.transition("r1", {"awaiting_approval"}, "queued", started_at=started, heartbeat_at=started)
    got = store.get_run("r1")
    assert got is not None
    assert got.state == "queued"
    assert got.started_at == started
    assert got.heartbeat_at == started
    assert got.updated_at is not None
    assert rec.updated_at is not None
    assert got.updated_at > rec.updated_at
    assert store.transition("r1", ["awaiting_approval"], "queued") is False  # the second click

    with pytest.raises(ValueError, match="unknown run field"):
        store.transition("r1", ["queued"], "running", colour="green")
    with pytest.raises(ValueError, match="cannot be set"):
        store.transition("r1", ["queued"], "running", state="failed")
    with pytest.raises(ValueError, match="cannot go from queued to succeeded"):
        store.transition("r1", ["queued"], "succeeded")
    with pytest.raises(ValueError, match="unknown run state"):
        store.transition("r1", ["approved"], "running")
    after = store.get_run("r1")
    assert after is not None
    assert after.state == "queued"


def test_update_run_sets_fields_whatever_the_state(store: Store) -> None:
    store.create_run(make_run("r1"))
    beat = datetime(2025, 3, 1, 13, 5, tzinfo=UTC)
    store.update_run("r1", message_ts="171.2", audit_ts="171.3", heartbeat_at=beat, outcome="drained 3 pods")
    got = store.get_run("r1")
    assert got is not None
    assert (got.message_ts, got.audit_ts, got.heartbeat_at, got.outcome) == ("171.2", "171.3", beat, "drained 3 pods")
    assert got.state == "awaiting_approval"
    with pytest.raises(ValueError, match="unknown run field"):
        store.update_run("r1", mesage_ts="typo")
    with pytest.raises(ValueError, match="cannot be set"):
        store.update_run("r1", id="other")


@pytest.mark.parametrize("sharing", ["one shared store", "a store per thread"])
def test_transition_from_20_threads_is_won_exactly_once(store: Store, store_url: str, sharing: str) -> None:
    threads = 20
    rounds = 5
    for n in range(rounds):
        store.create_run(make_run(f"run{n}"))
    stores = [store] * threads if sharing == "one shared store" else [Store(store_url) for _ in range(threads)]
    barrier = threading.Barrier(threads)

    def click(index: int) -> list[str]:
        won = []
        for n in range(rounds):
            barrier.wait(timeout=60)
            if stores[index].transition(f"run{n}", ["awaiting_approval"], "queued", outcome=f"thread {index}"):
                won.append(f"run{n}")
        return won

    try:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(click, range(threads)))
    finally:
        for s in set(stores) - {store}:
            s.close()
    winners = sorted(run for won in results for run in won)
    assert winners == [f"run{n}" for n in range(rounds)]  # each run won once, by one thread
    for n in range(rounds):
        got = store.get_run(f"run{n}")
        assert got is not None
        assert got.state == "queued"
        assert got.outcome == f"thread {next(i for i, won in enumerate(results) if f'run{n}' in won)}"


def _race_in_process(url: str, index: int, run_ids: list[str], barrier: Any, results: Any) -> None:
    """Child process: open (and migrate) the store, let process 0 create the runs, then race them."""
    store = Store.open(url)
    try:
        barrier.wait(timeout=120)  # everyone migrated
        if index == 0:
            for run_id in run_ids:
                store.create_run(make_run(run_id))
        barrier.wait(timeout=120)
        won = []
        for run_id in run_ids:
            barrier.wait(timeout=120)
            if store.transition(run_id, ["awaiting_approval"], "queued", outcome=f"process {index}"):
                won.append(run_id)
        results.put((index, won))
    finally:
        store.close()


def test_transition_across_processes_is_won_exactly_once(store_url: str) -> None:
    """Several OS processes (spawned, each with its own Store) start at once and race each transition."""
    processes = 3
    run_ids = [f"run{n}" for n in range(10)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    children = [
        ctx.Process(target=_race_in_process, args=(store_url, i, run_ids, barrier, results), daemon=True)
        for i in range(processes)
    ]
    for child in children:
        child.start()
    outcomes: dict[int, list[str]] = {}
    try:
        for _ in children:
            index, won = results.get(timeout=180)
            outcomes[index] = won
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    assert [child.exitcode for child in children] == [0] * processes
    winners = sorted(run for won in outcomes.values() for run in won)
    assert winners == sorted(run_ids)
    with Store(store_url) as store:
        assert store.migrate() == LATEST_VERSION
        for run_id in run_ids:
            got = store.get_run(run_id)
            owner = next(i for i, won in outcomes.items() if run_id in won)
            assert got is not None
            assert got.state == "queued"
            assert got.outcome == f"process {owner}"


# ---------------------------------------------------------------------------------- approvals
def test_add_approval_is_unique_per_approver_and_listed_oldest_first(store: Store, clock: SteppingClock) -> None:
    store.create_run(make_run("r1"))
    store.create_run(make_run("r2"))
    bob = ApprovalRecord("r1", "U222", "bob", "bob@example.com", "approve", "sha256:abc")
    assert store.add_approval(bob) is True
    assert bob.at == clock.now  # stamped by the store's clock
    assert store.add_approval(ApprovalRecord("r1", "U333", "carol", None, "deny", "sha256:abc", reason="not now"))
    assert store.add_approval(ApprovalRecord("r1", "U222", "bob", None, "deny", "sha256:other")) is False
    assert store.add_approval(ApprovalRecord("r2", "U222", "bob", None, "approve", "sha256:abc")) is True

    listed = store.approvals("r1")
    assert [(a.approver_chat_id, a.decision) for a in listed] == [("U222", "approve"), ("U333", "deny")]
    assert listed[0] == bob
    assert listed[1].reason == "not now"
    assert listed[1].kube_user is None
    assert all(a.at is not None and a.at.utcoffset() == timedelta(0) for a in listed)
    assert store.approvals("nope") == []
    with pytest.raises(ValueError, match="no run"):
        store.add_approval(ApprovalRecord("nope", "U222", "bob", None, "approve", "h"))


def test_add_approval_race_records_one_decision_per_approver(store: Store) -> None:
    store.create_run(make_run("r1"))
    barrier = threading.Barrier(10)

    def click(_: int) -> bool:
        barrier.wait(timeout=60)
        return store.add_approval(ApprovalRecord("r1", "U222", "bob", None, "approve", "sha256:abc"))

    with ThreadPoolExecutor(10) as pool:
        assert sorted(pool.map(click, range(10))) == [False] * 9 + [True]
    assert len(store.approvals("r1")) == 1


# -------------------------------------------------------------------------------------- audit
def test_audit_events_newest_first_with_limit_and_run_filter(store: Store) -> None:
    store.create_run(make_run("r1"))
    first = store.add_audit("r1", "U111", "request", "alice asked to drain node-1", {"args": ["node-1"]})
    assert isinstance(first, AuditEvent)
    assert first.detail == {"args": ["node-1"]}
    store.add_audit(None, "bot", "startup", "bot started")
    for n in range(5):
        store.add_audit("r1", "U111", "step", f"step {n}")
    last = store.add_audit("r2", "U999", "request", "other run")

    everything = store.audit_events(limit=100)
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    assert len(everything) == 8
    assert everything[0] == last
    assert everything[-1] == first
    assert [e.at for e in everything] == sorted((e.at for e in everything), reverse=True)
    assert all(e.at.utcoffset() == timedelta(0) for e in everything)
    assert everything[-2].run_id is None
    assert everything[-2].detail == {}

    assert [e.summary for e in store.audit_events(limit=3)] == ["other run", "step 4", "step 3"]
    of_r1 = store.audit_events(run_id="r1", limit=4)
    assert [e.summary for e in of_r1] == ["step 4", "step 3", "step 2", "step 1"]
    assert store.audit_events(run_id="r1", limit=100)[-1] == first
    assert store.audit_events(run_id="nope") == []


# ------------------------------------------------------------------------------------ queries
def test_recent_runs_newest_first_with_limit_and_since(store: Store) -> None:
    created = {}
    for n in range(6):
        rec = make_run(f"r{n}")
        store.create_run(rec)  # created_at: one second apart
        created[rec.id] = rec.created_at
    assert [r.id for r in store.recent_runs()] == ["r5", "r4", "r3", "r2", "r1", "r0"]
    assert [r.id for r in store.recent_runs(limit=2)] == ["r5", "r4"]
    since = created["r3"]
    assert since is not None
    assert [r.id for r in store.recent_runs(since=since)] == ["r5", "r4", "r3"]  # created at or after
    assert [r.id for r in store.recent_runs(since=since.astimezone(timezone(timedelta(hours=-5))))] == [
        "r5",
        "r4",
        "r3",
    ]
    assert store.recent_runs(since=T0 + timedelta(days=1)) == []


def test_runs_in_states_with_heartbeat_filter(store: Store) -> None:
    beat_old = T0 + timedelta(minutes=1)
    beat_new = T0 + timedelta(minutes=10)
    store.create_run(make_run("silent", state="running"))  # never sent a heartbeat
    store.create_run(make_run("stale", state="running", heartbeat_at=beat_old))
    store.create_run(make_run("alive", state="running", heartbeat_at=beat_new))
    store.create_run(make_run("waiting", state="awaiting_approval"))
    store.create_run(make_run("done", state="succeeded", heartbeat_at=beat_old))

    assert _ids(store.runs_in_states(["running"])) == ["silent", "stale", "alive"]  # oldest first
    assert _ids(store.runs_in_states({"running", "awaiting_approval"})) == ["silent", "stale", "alive", "waiting"]
    cutoff = T0 + timedelta(minutes=5)
    assert _ids(store.runs_in_states(["running"], heartbeat_before=cutoff)) == ["silent", "stale"]
    assert _ids(store.runs_in_states(["running"], heartbeat_before=beat_old)) == ["silent"]  # strictly older
    assert store.runs_in_states([]) == []
    assert store.runs_in_states(["expired"]) == []


# ------------------------------------------------------------------------ migrations, restart
def _schema_rows(url: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text("SELECT version, description FROM schema_version"))]
    finally:
        engine.dispose()


def test_migrate_twice_is_a_no_op_returning_the_same_version(store_url: str) -> None:
    with Store(store_url) as store:
        assert store.migrate() == LATEST_VERSION
        store.create_run(make_run("r1"))
        assert store.migrate() == LATEST_VERSION
        assert store.get_run("r1") is not None
    rows = _schema_rows(store_url)
    assert [row[0] for row in rows] == list(range(1, LATEST_VERSION + 1))
    with Store.open(store_url) as again:
        assert again.migrate() == LATEST_VERSION
    assert _schema_rows(store_url) == rows


def test_concurrent_first_starts_migrate_once(store_url: str) -> None:
    barrier = threading.Barrier(8)

    def start(_: int) -> int:
        barrier.wait(timeout=60)
        with Store.open(store_url) as store:
            return store.migrate()

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(start, range(8))) == [LATEST_VERSION] * 8
    assert [row[0] for row in _schema_rows(store_url)] == list(range(1, LATEST_VERSION + 1))


def test_a_reopened_store_sees_everything_written_before_close(store_url: str) -> None:
    clock: Callable[[], datetime] = SteppingClock()
    store = Store.open(store_url, clock=clock)
    store.create_run(make_run("r1", request_key="trigger-1"))
    store.transition("r1", ["awaiting_approval"], "queued", heartbeat_at=T0)
    store.add_approval(ApprovalRecord("r1", "U222", "bob", None, "approve", "sha256:abc"))
    event = store.add_audit("r1", "U111", "request", "drain node-1", {"node": "node-1"})
    before = store.get_run("r1")
    store.close()

    with Store.open(store_url) as reopened:
        assert reopened.get_run("r1") == before
        assert [a.approver_chat_id for a in reopened.approvals("r1")] == ["U222"]
        assert reopened.audit_events() == [event]
        assert reopened.create_run(make_run("r2", request_key="trigger-1")) is False  # Slack retry after restart
        assert reopened.transition("r1", ["awaiting_approval"], "queued") is False
        assert [r.id for r in reopened.runs_in_states(["queued"], heartbeat_before=T0 + timedelta(1))] == ["r1"]


# ------------------------------------------------------------------------------------- errors
def test_unreachable_postgres_is_a_config_error_without_the_password() -> None:
    url = f"postgresql+psycopg://bot:Sup3rS3cretPw@127.0.0.1:{free_port()}/runs"
    with pytest.raises(ConfigError) as caught:
        Store.open(url)
    problem = caught.value.problems[0]
    assert problem.file == "store.url"
    assert problem.location == "", "the line reads 'store.url: cannot connect …' (no [field] repeating it)"
    assert "cannot connect" in problem.message
    assert "127.0.0.1" in problem.message
    for text in (str(caught.value), repr(caught.value.problems), repr(caught.value.__cause__)):
        assert "Sup3rS3cretPw" not in text


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a url", "not a valid database URL"),
        ("mysql://root:pw@127.0.0.1/db", "unsupported database"),
        ("postgresql+psycopg2://u:pw@127.0.0.1/db", "unsupported PostgreSQL driver"),
        (
            "sqlite:////nonexistent-dir/k8s-runbook-bot/store.sqlite3",
            "its folder /nonexistent-dir/k8s-runbook-bot does not exist",
        ),
    ],
)
def test_invalid_urls_are_config_errors(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as caught:
        Store(url)
    assert "pw@" not in str(caught.value)


def test_public_names() -> None:
    assert {"Store", "RunRecord", "ApprovalRecord", "AuditEvent"} <= set(bot.store.__all__)


# ---------------------------------------------------------------------------------- retention
def test_purge_removes_old_finished_runs_with_their_decisions_and_keeps_the_rest(store: Store) -> None:
    old, recent, live = T0 - timedelta(days=200), T0 - timedelta(days=10), T0 - timedelta(days=300)
    store.create_run(make_run("old", state="succeeded", finished_at=old))
    store.create_run(make_run("recent", state="failed", finished_at=recent))
    store.create_run(make_run("live", state="running", started_at=live))  # never purged while active
    store.add_approval(ApprovalRecord("old", "U222", "bob", "bob", "approve", "sha256:abc"))
    store.put_artifact("old", "StepAccount", "step-1", {"done": ["x"]})
    counts = store.purge(runs_before=T0 - timedelta(days=180), audit_before=None, alerts_before=None)
    assert counts["runs"] == 1
    assert store.get_run("old") is None
    assert store.approvals("old") == []
    assert store.get_artifact("old", "StepAccount", "step-1") is None
    assert store.get_run("recent") is not None
    assert store.get_run("live") is not None
    assert store.purge(runs_before=T0 - timedelta(days=180), audit_before=None, alerts_before=None)["runs"] == 0
