"""podman and buildah with a private configuration and storage, for the image tests.

Everything lives in one temporary folder -- containers.conf, storage.conf, registries.conf, the
image store and podman's runtime state -- so a test never touches the machine's own container
storage or settings, and ``close()`` removes every container and image it made.

Quirks of this machine handled here rather than on the machine:
- ``runc`` as the OCI runtime: crun fails on the hybrid (v1 + unified) cgroup hierarchy.
- ``cgroupfs`` as the cgroup manager and a file event log: systemd and journald are not running.
- ``default_ulimits`` below the hard limits: podman's defaults (nofile 1048576) exceed the hard
  limits of this process, and runc, started by conmon whose NPROC hard limit podman lowers to
  32768, cannot raise them either -- ``runc create`` then fails with "error setting rlimits".
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("podman", "buildah", "runc")
ULIMIT_CAP = 16384  # comfortably under podman's own NPROC limit and enough for the bot


def missing_tools() -> list[str]:
    """The container tools that are not installed (``.ci/run`` installs Debian's packages)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _ulimit(kind: int) -> int:
    _, hard = resource.getrlimit(kind)
    return ULIMIT_CAP if hard == resource.RLIM_INFINITY else min(hard, ULIMIT_CAP)


@dataclass(frozen=True)
class Finished:
    """A finished podman/buildah command."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Finished:
        """Raise with the command's stderr unless it succeeded."""
        if self.returncode != 0:
            raise RuntimeError(f"{' '.join(self.args)} failed ({self.returncode}):\n{self.stderr[-4000:]}")
        return self


class Containers:
    """A podman/buildah session on its own storage; use as a context manager or call ``close()``."""

    def __init__(self, root: Path | None = None) -> None:
        missing = missing_tools()
        if missing:
            raise RuntimeError(f"container tools missing: {', '.join(missing)} (Debian packages; see .ci/run)")
        if os.geteuid() != 0:
            raise RuntimeError("the image tests run podman and buildah as root (rootful), as CI does")
        self.root = root or Path(tempfile.mkdtemp(prefix="k8s-runbook-bot-containers-"))
        self._write_config()

    def _write_config(self) -> None:
        conf = self.root / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        nofile, nproc = _ulimit(resource.RLIMIT_NOFILE), _ulimit(resource.RLIMIT_NPROC)
        (conf / "containers.conf").write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'tmp_dir = "{self.root / "libpod"}"\n'
            f'volume_path = "{self.root / "volumes"}"\n'
        )
        (conf / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.root / "storage"}"\nrunroot = "{self.root / "run"}"\n'
        )
        (conf / "registries.conf").write_text(
            'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n'
        )

    @property
    def env(self) -> dict[str, str]:
        """The environment that points podman and buildah at this session's configuration."""
        conf = self.root / "conf"
        return {
            **os.environ,
            "CONTAINERS_CONF": str(conf / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(conf / "registries.conf"),
            "BUILDAH_ISOLATION": "oci",
        }

    def run(
        self, tool: str, *args: str, timeout: float = 600, cwd: Path | None = None, stdin: str | None = None
    ) -> Finished:
        """Run ``tool`` (podman or buildah) with ``args`` (and ``stdin``); the result is returned, not checked."""
        cmd = [tool, *args]
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout, cwd=cwd, check=False
        )
        return Finished(cmd, proc.returncode, proc.stdout, proc.stderr)

    def podman(self, *args: str, timeout: float = 600) -> Finished:
        """``podman ARGS`` in this session, checked."""
        return self.run("podman", *args, timeout=timeout).check()

    def buildah(self, *args: str, timeout: float = 1800, cwd: Path | None = None) -> Finished:
        """``buildah ARGS`` in this session, checked."""
        return self.run("buildah", *args, timeout=timeout, cwd=cwd).check()

    def close(self) -> None:
        """Remove every container, image and file of this session."""
        if not (self.root / "conf").is_dir():
            return
        self.run("podman", "rm", "--all", "--force", "--time", "5")
        self.run("buildah", "rm", "--all")
        # Unmounts the overlay layers and deletes the store (the folder is ours alone).
        self.run("podman", "system", "reset", "--force")
        unmount_below(self.root)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Containers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unmount_below(folder: Path) -> None:
    """Lazily unmount whatever is still mounted under ``folder`` (deepest first)."""
    prefix = str(folder.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        targets = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)
