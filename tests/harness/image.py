"""The bot's container image: built from the repository's unchanged Dockerfile, then run.

``build_bot_image`` loads the stand-in base (``tests.harness.base_image``) into a ``Containers``
session and runs ``buildah bud --pull=never -f Dockerfile .``. What this machine needs is given as
flags, never as edits of the Dockerfile: ``--network host`` and the host CA bundle mounted over
the image's, so pip reaches the package index through this network's TLS.

``start_bot_container`` runs the image as a cluster would: as the image's own non-root user, with
``--read-only``, a writable data volume, and the config, kubeconfig and Slack secrets mounted
read-only; ``--network host`` so it reaches the test control plane and the fake Slack on 127.0.0.1.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.harness.base_image import IMAGE_NAME, ensure_base_image
from tests.harness.containers import Containers

REPO = Path(__file__).resolve().parents[2]
TAG = "localhost/k8s-runbook-bot:test"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DATA_DIR = "/var/lib/runbook-bot/data"  # the image's volume and working directory


@dataclass(frozen=True)
class BuiltImage:
    """The image built in this session and what it cost."""

    ref: str
    base_seconds: float  # debootstrap of the stand-in base; 0 when it came from the cache
    load_seconds: float
    build_seconds: float
    size_bytes: int
    base_size_bytes: int
    user: str
    working_dir: str
    volumes: list[str]


def _inspect(containers: Containers, ref: str, template: str) -> str:
    return containers.podman("image", "inspect", "--format", template, ref).stdout.strip()


def build_bot_image(containers: Containers) -> BuiltImage:
    """Load the base, build the Dockerfile as it is in the repository, and describe the result."""
    archive, base_seconds = ensure_base_image()
    started = time.monotonic()
    loaded = containers.podman("pull", "--quiet", f"oci-archive:{archive}").stdout.split()[-1]
    containers.podman("tag", loaded, IMAGE_NAME)
    load_seconds = time.monotonic() - started
    flags = ["--pull=never", "--network", "host", "--layers=false"]
    if CA_BUNDLE.is_file():
        flags += ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    started = time.monotonic()
    containers.buildah("bud", *flags, "--tag", TAG, "-f", "Dockerfile", ".", cwd=REPO)
    build_seconds = time.monotonic() - started
    volumes = _inspect(containers, TAG, "{{range $k, $v := .Config.Volumes}}{{$k}} {{end}}").split()
    return BuiltImage(
        ref=TAG,
        base_seconds=base_seconds,
        load_seconds=load_seconds,
        build_seconds=build_seconds,
        size_bytes=int(_inspect(containers, TAG, "{{.Size}}")),
        base_size_bytes=int(_inspect(containers, IMAGE_NAME, "{{.Size}}")),
        user=_inspect(containers, TAG, "{{.Config.User}}"),
        working_dir=_inspect(containers, TAG, "{{.Config.WorkingDir}}"),
        volumes=sorted(volumes),
    )


@dataclass
class BotContainer:
    """A running bot container serving HTTP on ``port`` of 127.0.0.1."""

    containers: Containers
    name: str
    port: int

    def request(self, path: str, body: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """GET (or POST ``body``) ``path`` on the container; (status, text) without raising on HTTP errors."""
        data = body.encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def running(self) -> bool:
        """True while the container's process runs."""
        found = self.containers.run("podman", "inspect", "--format", "{{.State.Running}}", self.name)
        return found.returncode == 0 and found.stdout.strip() == "true"

    def inspect(self, template: str) -> str:
        """``podman inspect --format TEMPLATE`` of the container."""
        return self.containers.podman("inspect", "--format", template, self.name).stdout.strip()

    def logs(self) -> str:
        """What the bot printed (stdout and stderr)."""
        found = self.containers.run("podman", "logs", self.name)
        return found.stdout + found.stderr

    def wait_serving(self, timeout: float = 90) -> None:
        """Wait until /healthz answers; fail at once, with the logs, if the container exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError(f"the bot container exited before serving:\n{self.logs()[-4000:]}")
            try:
                if self.request("/healthz")[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.25)
        raise AssertionError(f"the bot container did not serve /healthz within {timeout}s:\n{self.logs()[-4000:]}")

    def stop(self, grace_seconds: int = 20) -> int:
        """SIGTERM, wait up to ``grace_seconds``, and return the exit code."""
        self.containers.podman("stop", "--time", str(grace_seconds), self.name, timeout=grace_seconds + 60)
        return int(self.inspect("{{.State.ExitCode}}"))

    def remove(self) -> None:
        """Remove the container (whatever its state)."""
        self.containers.run("podman", "rm", "--force", "--time", "5", self.name)


def start_bot_container(
    containers: Containers, image: str, port: int, data: Path, read_only_files: dict[Path, str]
) -> BotContainer:
    """``podman run`` the image's default command (``serve``) with ``data`` as its volume."""
    name = f"runbook-bot-{uuid.uuid4().hex[:8]}"
    mounts = [arg for host, inside in read_only_files.items() for arg in ("--volume", f"{host}:{inside}:ro")]
    containers.podman(
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
        "--volume",
        f"{data}:{DATA_DIR}:rw",
        *mounts,
        image,
    )
    return BotContainer(containers, name, port)
