"""e2e fixtures: a control plane of its own (so cluster-wide counts are exact), a local Slack
server, and the real bot serving signed HTTP requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client, config

from tests.harness.binaries import ensure_binaries
from tests.harness.bot_server import BotServer, bot_settings, start_bot_server
from tests.harness.control_plane import CONTEXT, ControlPlane
from tests.harness.slack_server import FakeSlack


@pytest.fixture(scope="package")
def e2e_control_plane() -> Iterator[ControlPlane]:
    """A fresh control plane for the e2e package only (fails, never skips)."""
    try:
        cp = ControlPlane(ensure_binaries())
        cp.start()
    except Exception as exc:
        pytest.fail(f"e2e control plane failed to start: {type(exc).__name__}: {exc}", pytrace=False)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="package")
def e2e_admin(e2e_control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """Admin API client for the e2e cluster."""
    api = config.new_client_from_config(config_file=str(e2e_control_plane.admin_kubeconfig), context=CONTEXT)
    yield api
    api.close()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A local Slack-compatible Web API server that records calls."""
    slack = FakeSlack().start()
    yield slack
    slack.stop()


@pytest.fixture
def bot_server(e2e_control_plane: ControlPlane, fake_slack: FakeSlack) -> Iterator[BotServer]:
    """The bot (HTTP mode) for cluster ``test``, posting to ``fake_slack``."""
    server = start_bot_server(bot_settings(e2e_control_plane.admin_kubeconfig, fake_slack))
    yield server
    server.stop()
