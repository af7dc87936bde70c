"""A local stand-in for ``python:3.11-slim``, built once per machine and cached as an OCI archive.

No container registry is reachable here, so the image the Dockerfile starts ``FROM`` is made from
Debian's own packages: a debootstrap'd bookworm (minbase) with Debian's python3.11 and a venv at
``/usr/local``, so ``python``, ``pip`` and ``sys.prefix`` are where the official image has them.
It is saved as an OCI archive in ``~/.cache/k8s-runbook-bot/images/<key>/`` (the key covers the
suite, the packages and the recipe), so only the first run on a machine pays for debootstrap.

Run ``python -m tests.harness.base_image`` to build it ahead of the test run; it prints the path.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.binaries import CACHE_ROOT
from tests.harness.containers import Containers, unmount_below

SUITE = "bookworm"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = (
    "python3.11",
    "python3.11-venv",
    "python3-distutils",  # python3.11-venv needs it; debootstrap does not resolve the virtual name
    "python3-pip-whl",
    "python3-setuptools-whl",
    "ca-certificates",
    "netbase",
    "tzdata",
)
RECIPE = "2"  # bump when the steps below change, so every machine rebuilds
IMAGE_NAME = "docker.io/library/python:3.11-slim"
IMAGE_CHANGES = (
    "ENV=PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV=LANG=C.UTF-8",
    'CMD=["python3"]',
)
# Left out of the image, as the official slim images do: package lists, caches, manuals, locales.
PRUNE = ("var/lib/apt/lists", "var/cache/apt", "usr/share/man", "usr/share/info", "usr/share/locale", "debootstrap")


def cache_path() -> Path:
    """Where the archive for this exact recipe lives."""
    recipe = "\n".join((SUITE, RECIPE, *PACKAGES, *IMAGE_CHANGES))
    key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return CACHE_ROOT / "images" / f"python-3.11-slim_{SUITE}_{key}" / "python-3.11-slim.oci.tar"


def _run(args: list[str]) -> None:
    print("+", " ".join(args), file=sys.stderr, flush=True)
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")


def _rootfs(target: Path) -> None:
    """debootstrap bookworm with Debian's python3.11, then a venv at /usr/local and no caches."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is missing (Debian package `debootstrap`; see .ci/run)")
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(target), MIRROR])
    _run(["chroot", str(target), "/usr/bin/python3.11", "-m", "venv", "/usr/local"])
    _run(["chroot", str(target), "/usr/local/bin/python", "-m", "pip", "--version"])
    for sub in PRUNE:
        folder = target / sub
        if folder.is_dir():
            shutil.rmtree(folder)
    for folder, _, files in os.walk(target / "usr" / "share" / "doc"):  # keep only the licences
        for name in files:
            if name != "copyright":
                os.unlink(os.path.join(folder, name))
    (target / "var" / "cache" / "apt").mkdir(parents=True)
    (target / "var" / "lib" / "apt" / "lists" / "partial").mkdir(parents=True)


def build(out: Path) -> Path:
    """debootstrap, import as an image, save as an OCI archive at ``out`` (atomically)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="base-", dir=out.parent) as tmp:
        work = Path(tmp)
        try:
            _rootfs(work / "rootfs")
        finally:  # debootstrap mounts /proc and /sys in the target while it installs
            unmount_below(work)
        tarball = work / "rootfs.tar"
        _run(["tar", "--numeric-owner", "--xattrs", "-C", str(work / "rootfs"), "-cf", str(tarball), "."])
        shutil.rmtree(work / "rootfs")
        changes = [arg for change in IMAGE_CHANGES for arg in ("--change", change)]
        with Containers() as containers:
            containers.podman("import", *changes, str(tarball), IMAGE_NAME)
            containers.podman("save", "--format", "oci-archive", "-o", str(work / "image.oci.tar"), IMAGE_NAME)
        (work / "image.oci.tar").rename(out)
    return out


def ensure_base_image() -> tuple[Path, float]:
    """The cached archive, built first if missing; returns it and the seconds spent building (0 if cached)."""
    out = cache_path()
    if out.is_file():
        return out, 0.0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:  # one builder per machine; the others wait, then reuse
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.is_file():
            return out, 0.0
        started = time.monotonic()
        build(out)
        return out, time.monotonic() - started


if __name__ == "__main__":
    path, seconds = ensure_base_image()
    print(path)
    print(f"base image {'built in ' + format(seconds, '.0f') + 's' if seconds else 'cached'}", file=sys.stderr)
