"""The container image: built from the unchanged Dockerfile with buildah, run read-only with podman.

The image serves its probes and metrics and answers a signed ``/k8s status`` against the test
control plane, as the image's non-root user with a read-only root filesystem; the SQLite store
lands on the data volume. Without podman/buildah the tests fail when CI=true (never skip there).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.containers import Containers
from tests.harness.control_plane import CONTEXT, ControlPlane, free_port
from tests.harness.image import DATA_DIR, BotContainer, BuiltImage, build_bot_image, start_bot_container
from tests.harness.kwok_nodes import create_node, unique_name, wait_for, wait_node_ready
from tests.harness.rbac import READ_RULES, bind_cluster_role, ensure_cluster_role
from tests.harness.slack_server import FakeSlack
from tests.harness.slack_signing import signed_headers, slash_command_body

pytestmark = pytest.mark.integration

SIGNING_SECRET = "image-signing-secret"
BOT_TOKEN = "xoxb-image-0000-test"
IMAGE_SIZE_BUDGET_MB = 450  # the stand-in base is ~160 MB of it
BUILD_TOOLS = ("gcc", "cc", "c++", "make", "ld", "git")


class _BuildSummary:
    """Prints the build's figures at the end of the run (registered by the fixture)."""

    def __init__(self, image: BuiltImage) -> None:
        self.image = image

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        i = self.image
        base = f"built in {i.base_seconds:.0f}s (cold)" if i.base_seconds else "from the cache (warm)"
        terminalreporter.write_line(
            f"bot image: {i.size_bytes / 1e6:.0f} MB ({(i.size_bytes - i.base_size_bytes) / 1e6:.0f} MB over the "
            f"{i.base_size_bytes / 1e6:.0f} MB base); buildah bud {i.build_seconds:.0f}s; "
            f"base image {base}, loaded in {i.load_seconds:.0f}s"
        )


@pytest.fixture(scope="module")
def containers() -> Iterator[Containers]:
    """A private podman/buildah session (fails under CI=true when containers cannot run here)."""
    failure = ""
    try:
        session = Containers()
    except RuntimeError as exc:
        failure = f"cannot run containers here: {exc}"
    if failure:
        if os.environ.get("CI") == "true":
            pytest.fail(failure, pytrace=False)
        pytest.skip(failure)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="module")
def bot_image(containers: Containers, request: pytest.FixtureRequest) -> BuiltImage:
    """The image, built once for this module from the repository's Dockerfile as it is."""
    image = build_bot_image(containers)
    request.config.pluginmanager.register(_BuildSummary(image), "bot-image-build-summary")
    return image


def test_image_is_small_non_root_and_has_no_build_tools(containers: Containers, bot_image: BuiltImage) -> None:
    assert bot_image.user == "10001:10001"
    assert bot_image.working_dir == DATA_DIR
    assert bot_image.volumes == [DATA_DIR]
    size_mb = bot_image.size_bytes / 1e6
    assert size_mb < IMAGE_SIZE_BUDGET_MB, f"the image grew to {size_mb:.0f} MB (budget {IMAGE_SIZE_BUDGET_MB} MB)"
    probe = "import shutil, sys; print(' '.join(t for t in sys.argv[1:] if shutil.which(t)))"
    found = containers.podman(
        "run", "--rm", "--network", "none", "--entrypoint", "python", bot_image.ref, "-c", probe, *BUILD_TOOLS
    )
    assert found.stdout.strip() == "", f"build tools in the final image: {found.stdout.strip()}"
    usage = containers.podman("run", "--rm", "--network", "none", bot_image.ref, "--help")
    assert "check-config" in usage.stdout  # the entry point runs as the image user


@pytest.fixture
def cordoned_node_and_readers(kube_api_client: client.ApiClient) -> Iterator[tuple[str, str]]:
    """A cordoned kwok node and a group allowed to read the cluster; both removed afterwards."""
    core = client.CoreV1Api(kube_api_client)
    node, group = unique_name("image-node"), unique_name("image-readers")
    create_node(core, node, cordoned=True)
    wait_node_ready(core, node)
    ensure_cluster_role(kube_api_client, "runbook-read", READ_RULES)
    binding = bind_cluster_role(kube_api_client, "runbook-read", group=group)
    try:
        yield node, group
    finally:
        client.RbacAuthorizationV1Api(kube_api_client).delete_cluster_role_binding(binding)
        core.delete_node(node)


def _bot_files(folder: Path, cp: ControlPlane, slack: FakeSlack, port: int, group: str, ns: str) -> dict[Path, str]:
    """Config, kubeconfig and Slack secrets as a cluster would mount them (no store: the image's default)."""
    config = {
        "clusters": {"test": {"kubeconfig": "/etc/runbook-bot/kubeconfig", "context": CONTEXT}},
        "slack": {
            "mode": "http",
            "bot_token_file": "/var/run/secrets/slack/bot-token",
            "signing_secret_file": "/var/run/secrets/slack/signing-secret",
            "api_base_url": slack.api_url,
            "listen_host": "127.0.0.1",
            "listen_port": port,
        },
        "identity": {"users": {"U0IMAGE": {"user": "image-tester", "groups": [group]}}},
        "health": {"leader_election": {"namespace": ns}},
        "log_format": "json",
    }
    files = {
        "config.yaml": (yaml.safe_dump(config), "/etc/runbook-bot/config.yaml"),
        "kubeconfig": (cp.admin_kubeconfig.read_text(), "/etc/runbook-bot/kubeconfig"),
        "bot-token": (BOT_TOKEN, "/var/run/secrets/slack/bot-token"),
        "signing-secret": (SIGNING_SECRET, "/var/run/secrets/slack/signing-secret"),
    }
    mounts = {}
    for name, (text, inside) in files.items():
        path = folder / name
        path.write_text(text)
        path.chmod(0o644)  # readable by the image's user (uid 10001); test-only values
        mounts[path] = inside
    return mounts


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """The local Slack Web API on 127.0.0.1 (the container shares the host's loopback)."""
    slack = FakeSlack().start()
    yield slack
    slack.stop()


def test_image_serves_probes_metrics_and_a_signed_status_read_only(
    containers: Containers,
    bot_image: BuiltImage,
    control_plane: ControlPlane,
    namespace: str,
    cordoned_node_and_readers: tuple[str, str],
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    node, group = cordoned_node_and_readers
    data = tmp_path / "data"
    data.mkdir()
    shutil.chown(data, 10001, 10001)
    port = free_port()
    mounts = _bot_files(tmp_path, control_plane, fake_slack, port, group, namespace)
    bot = start_bot_container(containers, bot_image.ref, port, data, mounts)
    try:
        _serve_and_answer(bot, fake_slack, node, data)
    finally:
        logs = bot.logs()
        bot.remove()
    assert BOT_TOKEN not in logs, "a secret reached the logs"
    assert SIGNING_SECRET not in logs, "a secret reached the logs"


def _serve_and_answer(bot: BotContainer, slack: FakeSlack, node: str, data: Path) -> None:
    bot.wait_serving()
    assert bot.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
    assert bot.inspect("{{.Config.User}}") == "10001:10001"
    assert bot.request("/healthz") == (200, "ok")
    assert bot.request("/readyz") == (200, "ready")

    body = slash_command_body("status", user_id="U0IMAGE", response_url=slack.response_url())
    status, _ = bot.request("/slack/events", body, signed_headers(SIGNING_SECRET, body))
    assert status == 200
    (post,) = slack.wait_for("chat.postMessage", timeout=60)
    text = json.dumps(post.args["blocks"])
    assert f"{node}: cordoned" in text, text[:2000]
    assert post.headers.get("Authorization") == f"Bearer {BOT_TOKEN}"
    forged = slash_command_body("status", user_id="U0IMAGE")
    assert bot.request("/slack/events", forged, signed_headers("wrong-secret", forged))[0] == 401

    counted = wait_for("the status command on /metrics", lambda: _samples(bot, "runbook_bot_commands_total"), 30)
    assert counted == {frozenset({("runbook", "status"), ("outcome", "ok")}): 1.0}, counted
    leads = wait_for(
        "the health lease", lambda: (_samples(bot, "runbook_bot_health_leader") or {}).get(frozenset()) or None, 30
    )
    assert leads == 1.0  # the lone replica took its Lease (in the test namespace)
    store = data / "runbook-bot.sqlite3"
    assert store.is_file(), f"no store on the data volume: {list(data.iterdir())}"
    assert store.stat().st_size > 0, f"no store on the data volume: {list(data.iterdir())}"
    assert store.stat().st_uid == 10001
    assert bot.stop() == 0, f"the bot did not exit cleanly on SIGTERM:\n{bot.logs()[-3000:]}"


def _samples(bot: BotContainer, name: str) -> dict[frozenset[tuple[str, str]], float] | None:
    """The samples of ``name`` on the container's /metrics by label set, or None while there are none."""
    code, text = bot.request("/metrics")
    assert code == 200, text
    found = {
        frozenset(sample.labels.items()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }
    return found or None


def test_the_first_run_of_the_image_without_a_cluster_or_tokens_is_clear_lines(
    containers: Containers, bot_image: BuiltImage
) -> None:
    """The image's own config (config/example.yaml), nothing mounted, read-only: what an operator sees first."""
    plain = ["run", "--rm", "--network", "none", "--read-only"]
    home_kubeconfig = "/var/lib/runbook-bot/.kube/config"
    served = containers.run("podman", *plain, bot_image.ref)  # CMD ["serve"]
    assert served.returncode == 2, served.stderr
    lines = served.stderr.splitlines()
    assert [line.split(" — ")[0] for line in lines] == [
        "cannot serve: Slack http mode needs slack.bot_token",
        "cannot serve: Slack http mode needs slack.signing_secret",
        f"cannot serve: cluster staging: no kubeconfig at {home_kubeconfig} (clusters.staging.kubeconfig)",
        f"cannot serve: cluster production: no kubeconfig at {home_kubeconfig} (the default ~/.kube/config)",
    ], served.stderr
    assert all(" — set " in line or " — mount one there" in line for line in lines), "each says what to do"

    checked = containers.run("podman", *plain, bot_image.ref, "check-config")
    assert checked.returncode == 0, checked.stderr
    assert "configuration OK: 2 cluster(s) (staging, production)" in checked.stdout
    assert f"  warning: cluster staging: no kubeconfig at {home_kubeconfig}" in checked.stderr

    shell = containers.run("podman", *plain, "-i", bot_image.ref, "shell", stdin="help\nwhoami\nstatus\n")
    assert shell.returncode == 1, shell.stderr  # `status` cannot work without a cluster; help and whoami do
    assert "[i] Runbooks" in shell.stdout
    assert "[!] Clusters not reached" in shell.stdout
    assert f"[x] Cluster unavailable\ncluster staging: no kubeconfig at {home_kubeconfig}" in shell.stdout

    read_only_store = "sqlite:////var/lib/runbook-bot/runbook-bot.sqlite3"  # off the data volume: read-only
    stored = containers.run(
        "podman",
        *plain,
        "-i",
        "-e",
        f"RUNBOOK_BOT_STORE__URL={read_only_store}",
        bot_image.ref,
        "shell",
        stdin="help\n",
    )
    assert stored.returncode == 1
    assert stored.stderr.splitlines() == [
        "configuration is invalid: store.url: cannot open the SQLite store /var/lib/runbook-bot/runbook-bot.sqlite3: "
        "its folder /var/lib/runbook-bot is on a read-only file system — set store.url (or RUNBOOK_BOT_STORE__URL) "
        "to a file in a writable folder, e.g. sqlite:////var/lib/runbook-bot/data/runbook-bot.sqlite3 on the "
        "container image's data volume"
    ]
    for run in (served, checked, shell, stored):
        assert "Traceback" not in run.stdout + run.stderr
