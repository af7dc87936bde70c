"""Shared pytest fixtures.

Control plane (integration tests): ``control_plane`` (session) starts real etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok on 127.0.0.1; ``kube_api_client`` (session) is an
admin ``kubernetes.client.ApiClient``; ``namespace`` (function) is a fresh namespace, deleted after.
A control plane that cannot start fails the tests that need it -- it never skips them.

Store (``bot.store``): ``postgres_server`` (session) runs a real PostgreSQL from Debian's package;
``store_url`` (function, parametrized sqlite/postgresql) is a fresh empty database for each test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.harness.binaries import ensure_binaries
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.kwok_nodes import create_namespace, unique_name
from tests.harness.postgres import PostgresServer

_KUBE_VERSION = pytest.StashKey[str]()
_STARTUP_SECONDS = pytest.StashKey[float]()
_KEPT_DIR = pytest.StashKey[str]()
_POSTGRES = pytest.StashKey[tuple[str, float]]()


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """A running control plane for the whole session (fails, never skips, if it cannot start)."""
    failure = ""
    try:
        cp = ControlPlane(ensure_binaries())
        cp.start()
    except Exception as exc:  # noqa: BLE001 - report why, as a failure (pytest.fail outside the handler)
        failure = f"the test control plane could not start: {type(exc).__name__}: {exc}"
    if failure:
        pytest.fail(failure, pytrace=False)
    request.config.stash[_KUBE_VERSION] = cp.version
    request.config.stash[_STARTUP_SECONDS] = cp.startup_seconds
    try:
        yield cp
    finally:
        if os.environ.get("KEEP_CONTROL_PLANE") == "1":
            request.config.stash[_KEPT_DIR] = str(cp.root)
        cp.stop()


@pytest.fixture(scope="session")
def kube_api_client(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """An ApiClient authenticated as admin (O=system:masters)."""
    api = config.new_client_from_config(config_file=str(control_plane.admin_kubeconfig), context=CONTEXT)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(kube_api_client: client.ApiClient) -> Iterator[str]:
    """A fresh, uniquely named namespace (with its default service account); deleted afterwards."""
    core = client.CoreV1Api(kube_api_client)
    name = unique_name("test")
    create_namespace(core, name)
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    """Say which kube-apiserver the integration tests ran against (only if one was started)."""
    version = config.stash.get(_KUBE_VERSION, None)
    if version is not None:
        seconds = config.stash.get(_STARTUP_SECONDS, 0.0)
        terminalreporter.write_line(f"integration tests ran against kube-apiserver {version}")
        terminalreporter.write_line(f"control plane started in {seconds:.1f}s")
        kept = config.stash.get(_KEPT_DIR, None)
        if kept is not None:
            terminalreporter.write_line(f"control plane files kept in {kept} (KEEP_CONTROL_PLANE=1)")
    postgres = config.stash.get(_POSTGRES, None)
    if postgres is not None:
        terminalreporter.write_line(f"store tests ran against PostgreSQL {postgres[0]} (started in {postgres[1]:.1f}s)")


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's package) for the session; fails, never skips, if it cannot start."""
    failure = ""
    server = PostgresServer()
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - report why, as a failure (pytest.fail outside the handler)
        failure = f"PostgreSQL could not start: {type(exc).__name__}: {exc}"
    if failure:
        pytest.fail(failure, pytrace=False)
    request.config.stash[_POSTGRES] = (server.version, server.startup_seconds)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL for ``bot.store``: a SQLite file, or a new database on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database(f"store_{uuid.uuid4().hex[:16]}")
