"""Opening the database: URL checks, SQLite tuning, and errors that never show the password.

SQLite (the embedded default) gets WAL journaling, a busy timeout and foreign keys, and the
store controls its transactions itself (``BEGIN`` / ``BEGIN IMMEDIATE``) instead of the
``sqlite3`` module's implicit ones, so a write transaction takes the write lock up front and
waits for it rather than failing with "database is locked". PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from bot.errors import ConfigError, ConfigProblem
from bot.store.sqlite_access import sqlite_problem

#: Execution option: begin the (SQLite) transaction with ``BEGIN IMMEDIATE`` (take the write lock now).
WRITE_LOCK = "store_write_lock"
#: Seconds a SQLite connection waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT = 30.0
#: Seconds to wait for a PostgreSQL server to answer a new connection.
POSTGRES_CONNECT_TIMEOUT = 10


def config_error(reason: str) -> ConfigError:
    """A ``ConfigError`` about ``store.url`` (the reason must not contain the password)."""
    return ConfigError([ConfigProblem("store.url", "", reason)])


def parse_url(url: str) -> URL:
    """Parse and check a store URL; ``postgresql://`` without a driver means psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise config_error(f"not a valid database URL ({_scrub(str(exc), None)})") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        driver = parsed.get_driver_name()
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif driver != "psycopg":
            raise config_error(f"unsupported PostgreSQL driver {driver!r}: use postgresql+psycopg://")
        if importlib.util.find_spec("psycopg") is None:
            raise config_error("the PostgreSQL driver is not installed: pip install 'k8s-runbook-bot[postgres]'")
    elif backend != "sqlite":
        raise config_error(f"unsupported database {backend!r}: use sqlite:///file or postgresql+psycopg://")
    return parsed


def create_store_engine(url: str) -> Engine:
    """An ``Engine`` for ``url``, checked by opening one connection (raises ``ConfigError``)."""
    parsed = parse_url(url)
    shown = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False})
            _tune_sqlite(engine)
        else:
            engine = create_engine(
                parsed, connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT}, pool_pre_ping=True
            )
    except (ArgumentError, NoSuchModuleError, TypeError) as exc:
        raise config_error(f"cannot use {shown}: {_scrub(str(exc), parsed.password)}") from None
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        engine.dispose()
        raise store_error(parsed, str(exc.orig)) from None
    except SQLAlchemyError as exc:
        engine.dispose()
        raise config_error(f"cannot connect to {shown}: {_scrub(str(exc), parsed.password)}") from None
    return engine


def store_error(parsed: URL, reason: str) -> ConfigError:
    """The ``ConfigError`` for a store that cannot be opened or written: for SQLite, which folder or file and why."""
    reason = _scrub(reason, parsed.password)
    if parsed.get_backend_name() == "sqlite":
        line = sqlite_problem(parsed.database, reason)
        if line:
            return config_error(line)
    return config_error(f"cannot connect to {parsed.render_as_string(hide_password=True)}: {reason}")


def _scrub(text: str, password: Any) -> str:
    """``text`` on one line, with the password (if any) masked."""
    text = " ".join(text.split())
    if password:
        text = text.replace(str(password), "***")
    return text


def _tune_sqlite(engine: Engine) -> None:
    """WAL, busy timeout, foreign keys, and explicit transactions on every SQLite connection."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN: the "begin" hook below decides
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            _set_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_LOCK, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _set_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode = WAL``, waiting out other connections doing the same.

    Switching a new database to WAL needs an exclusive lock, and SQLite answers "database is
    locked" at once — without its busy handler — when processes or threads starting together
    race for it; so this retries until the busy timeout, as any other wait for the lock would.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
