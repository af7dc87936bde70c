"""Fixtures of the etcd-backup integration tests (the other integration tests use tests/conftest.py).

``backup_world`` (session): a TLS etcd, moto (S3 + KMS), Azurite and a fake Key Vault, all on
127.0.0.1 — see ``tests/harness/backup_setup.py``. Like the control plane, a component that cannot
start fails the tests that need it; they are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.backup_setup import BackupWorld
from tests.harness.binaries import ensure_binaries


@pytest.fixture(scope="session")
def backup_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackupWorld]:
    """Every real component the backup tests use (fails, never skips, if one cannot start)."""
    failure = ""
    try:
        world = BackupWorld(ensure_binaries(), tmp_path_factory.mktemp("backup-world")).start()
    except Exception as exc:  # noqa: BLE001 - report why, as a failure (pytest.fail outside the handler)
        failure = f"the etcd-backup test components could not start: {type(exc).__name__}: {exc}"
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield world
    finally:
        world.stop()
