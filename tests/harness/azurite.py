"""Azurite (Microsoft's Azure Storage emulator, from npm) for the Azure Blob target tests.

``ensure_azurite()`` installs the pinned version once per machine into
``~/.cache/k8s-runbook-bot/azurite-<version>/`` (``npm install``; atomically: a half-finished install
is never used), and ``Azurite`` starts ``azurite-blob`` on a free 127.0.0.1 port with its data in a
temporary folder. 3.35.0 is the newest release that runs on Node 20 (3.36+ need Node 21+).
``python -m tests.harness.azurite`` installs it ahead of a test run (``.ci/run`` does).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.harness.binaries import CACHE_ROOT
from tests.harness.control_plane import LOOPBACK, _die_with_parent, free_port

AZURITE_VERSION = "3.35.0"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (public, documented by Microsoft).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def install_dir() -> Path:
    """The cache folder of the pinned version."""
    return CACHE_ROOT / f"azurite-{AZURITE_VERSION}"


def ensure_azurite() -> Path:
    """The ``azurite-blob`` executable, installed with npm on first use."""
    folder = install_dir()
    exe = folder / "node_modules" / ".bin" / "azurite-blob"
    if exe.is_file():
        return exe
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install Azurite (Debian: apt-get install npm)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"azurite-{AZURITE_VERSION}-", dir=folder.parent))
    try:
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
                str(work),
                f"azurite@{AZURITE_VERSION}",
            ],
            check=True,
            timeout=900,
        )
        if folder.exists():  # another process finished first
            shutil.rmtree(work, ignore_errors=True)
        else:
            work.rename(folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if not exe.is_file():
        raise RuntimeError(f"npm installed Azurite but {exe} is missing")
    return exe


class Azurite:
    """``azurite-blob`` on 127.0.0.1; ``connection_string`` for azure-storage-blob."""

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.location = Path(tempfile.mkdtemp(prefix="azurite-data-"))

    @property
    def connection_string(self) -> str:
        """The development account's connection string for this instance."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{LOOPBACK}:{self.port}/{ACCOUNT};"
        )

    def start(self) -> Azurite:
        """Start and wait until the port accepts connections."""
        exe = ensure_azurite()
        self.port = free_port()
        log = (self.location / "azurite.log").open("ab")
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [
                str(exe),
                "--blobHost",
                LOOPBACK,
                "--blobPort",
                str(self.port),
                "--location",
                str(self.location / "data"),
                "--skipApiVersionCheck",  # the Python SDK may speak a newer API version than this Azurite
                "--silent",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Azurite exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Azurite did not listen within 60s: {self.log_tail()}")

    def log_tail(self) -> str:
        """The end of Azurite's log."""
        path = self.location / "azurite.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop the process and remove its data."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.location, ignore_errors=True)


if __name__ == "__main__":
    print(ensure_azurite())
