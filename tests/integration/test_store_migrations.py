"""Migrations are frozen per version: a database made by the first release migrates to head and then
matches the current table definitions exactly (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.store import LATEST_VERSION, MIGRATIONS, Store
from bot.store.migrations import migrate
from bot.store.schema import metadata
from tests.harness.postgres import PostgresServer

RELEASE_0_1_0 = Path(__file__).resolve().parents[1] / "fixtures" / "store-release-0.1.0.sqlite.sql"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN_ROW = (
    "INSERT INTO runs (id, runbook, risk, cluster, namespace, command, requester_chat_id, requester_name, "
    "kube_groups, state, plan, plan_hash, approvals_required, policy, created_at, updated_at) VALUES "
    "('old1', 'drain', 'destructive', 'prod', 'default', 'drain node-1', 'U1', 'alice', '[]', 'succeeded', "
    "'{}', 'h', 0, '{}', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"
)


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    return [d for d in diffs if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "schema_version")]


def _sqlite_schema(path: Path) -> list[str]:
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name != 'sqlite_sequence'")
        return sorted(" ".join(r[0].split()) for r in rows)


def test_frozen_migrations_still_create_exactly_what_release_0_1_0_created(tmp_path: Path) -> None:
    released = tmp_path / "released.sqlite3"
    with sqlite3.connect(released) as con:
        con.executescript(RELEASE_0_1_0.read_text())
    frozen = tmp_path / "frozen.sqlite3"
    engine = sa.create_engine(f"sqlite:///{frozen}")
    try:
        assert migrate(engine, lambda: T0, MIGRATIONS[:2]) == 2
    finally:
        engine.dispose()
    assert _sqlite_schema(frozen) == _sqlite_schema(released)


def test_a_release_0_1_0_sqlite_database_migrates_to_head_and_matches_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as con:
        con.executescript(RELEASE_0_1_0.read_text())
        con.execute(RUN_ROW)
    with Store.open(f"sqlite:///{path}") as store:
        assert store.migrate() == LATEST_VERSION
        old = store.get_run("old1")
        assert old is not None
        assert old.state == "succeeded"
        assert old.command == "drain node-1"
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_a_postgresql_database_at_version_2_migrates_to_head_and_matches_the_tables(
    postgres_server: PostgresServer,
) -> None:
    postgres_url = postgres_server.new_database(f"mig_{uuid.uuid4().hex[:12]}")
    engine = sa.create_engine(postgres_url)
    try:
        assert migrate(engine, lambda: T0, MIGRATIONS[:2]) == 2
        with engine.begin() as conn:
            conn.execute(sa.text(RUN_ROW.replace("'2026-01-01 00:00:00.000000'", "'2026-01-01 00:00:00+00'")))
        assert migrate(engine, lambda: T0) == LATEST_VERSION
        assert _differences(engine) == []
    finally:
        engine.dispose()
    with Store.open(postgres_url) as store:
        old = store.get_run("old1")
        assert old is not None
        assert old.created_at == T0
