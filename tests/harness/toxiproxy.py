"""Toxiproxy: a real fault-injecting TCP proxy on 127.0.0.1, built from its Go module and cached.

``ensure_toxiproxy()`` builds ``toxiproxy-server`` and ``toxiproxy-cli`` once per machine into
``~/.cache/k8s-runbook-bot/toxiproxy-<version>/`` (``go install`` of the pinned module, like
tests/harness/binaries.py does for the control plane). ``ToxiproxyServer`` runs the server on a
free loopback port; ``ToxiproxyServer.proxy()`` puts a ``Proxy`` in front of an upstream (the test
kube-apiserver), and the ``Proxy`` adds and removes toxics (reset_peer, latency, timeout, bandwidth)
and takes the proxy down (an outage: the listener closes, connections are refused) and back up,
through Toxiproxy's HTTP API.

Run ``python -m tests.harness.toxiproxy`` to build ahead of the test run; it prints the folder.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.harness.binaries import CACHE_ROOT, _go_env, _run
from tests.harness.control_plane import LOOPBACK, _die_with_parent, free_port

TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
#: go install names a binary after its package folder (cmd/server → server); the cache uses the usual names.
BINARIES = {"server": "toxiproxy-server", "cli": "toxiproxy-cli"}


def cache_dir() -> Path:
    """The folder for this Toxiproxy version."""
    return CACHE_ROOT / f"toxiproxy-{TOXIPROXY_VERSION}"


def _has_all(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in BINARIES.values())


def build(out: Path) -> Path:
    """``go install`` the pinned server and CLI into a scratch GOBIN, then move them into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="toxiproxy-build-") as tmp:
        gobin = Path(tmp) / "bin"
        env = _go_env(gobin)
        pkgs = [f"{TOXIPROXY_MODULE}/cmd/{pkg}@{TOXIPROXY_VERSION}" for pkg in BINARIES]
        _run(["go", "install", "-trimpath", "-ldflags", "-s -w", *pkgs], Path(tmp), env)
        for pkg, name in BINARIES.items():
            staged = out / f".{name}.part"
            shutil.copy2(gobin / pkg, staged)
            staged.replace(out / name)  # atomic: a half-copied binary is never taken for a built one
    (out / "versions.json").write_text(json.dumps({"toxiproxy": TOXIPROXY_VERSION}, indent=2))
    return out


def ensure_toxiproxy() -> Path:
    """A folder holding ``toxiproxy-server`` and ``toxiproxy-cli``, built on first use."""
    folder = cache_dir()
    if _has_all(folder):
        return folder
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build Toxiproxy for the fault tests and is not on PATH")
    return build(folder)


class ToxiproxyError(RuntimeError):
    """Toxiproxy could not start, or its API refused a request."""


class ToxiproxyClient:
    """A small client for Toxiproxy's HTTP API (proxies and toxics as JSON)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API request; the decoded JSON answer (None when empty). Raises on a non-2xx status."""
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if not 200 <= resp.status < 300:
            raise ToxiproxyError(f"{method} {path} answered {resp.status}: {data.decode(errors='replace')}")
        return json.loads(data) if data.strip() else None

    def version(self) -> str:
        """The server's version (also a liveness probe)."""
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=5)
        try:
            conn.request("GET", "/version")
            return conn.getresponse().read().decode().strip()
        finally:
            conn.close()

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self.call("POST", "/reset")


@dataclass
class Proxy:
    """One Toxiproxy proxy: ``listen_port`` on 127.0.0.1 forwards to ``upstream``."""

    api: ToxiproxyClient
    name: str
    listen_port: int
    upstream: str

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<listen_port>`` (the proxied API server's address)."""
        return f"https://{LOOPBACK}:{self.listen_port}"

    def add_toxic(
        self, name: str, kind: str, attributes: dict[str, int], *, stream: str = "downstream", toxicity: float = 1.0
    ) -> None:
        """Add a toxic (``kind``: latency, reset_peer, timeout, bandwidth, slow_close, limit_data...)."""
        body = {"name": name, "type": kind, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        self.api.call("POST", f"/proxies/{self.name}/toxics", body)

    def remove_toxic(self, name: str) -> None:
        """Remove one toxic by name."""
        self.api.call("DELETE", f"/proxies/{self.name}/toxics/{name}")

    def toxics(self) -> list[dict[str, Any]]:
        """The toxics in force."""
        return list(self.api.call("GET", f"/proxies/{self.name}/toxics") or [])

    def latency(self, ms: int, jitter_ms: int = 0, *, stream: str = "downstream") -> str:
        """Delay data by ``ms`` (± ``jitter_ms``); returns the toxic's name."""
        name = f"latency_{stream}"
        self.add_toxic(name, "latency", {"latency": ms, "jitter": jitter_ms}, stream=stream)
        return name

    def reset_peer(self, after_ms: int = 0, *, toxicity: float = 1.0, stream: str = "downstream") -> str:
        """Reset (TCP RST) the affected connections ``after_ms`` after they start; returns the toxic's name."""
        name = f"reset_peer_{stream}"
        self.add_toxic(name, "reset_peer", {"timeout": after_ms}, stream=stream, toxicity=toxicity)
        return name

    def timeout(self, ms: int, *, toxicity: float = 1.0, stream: str = "downstream") -> str:
        """Stop all data and close the connection after ``ms`` (0: hold it forever)."""
        name = f"timeout_{stream}"
        self.add_toxic(name, "timeout", {"timeout": ms}, stream=stream, toxicity=toxicity)
        return name

    def bandwidth(self, kb_per_second: int, *, stream: str = "downstream") -> str:
        """Limit throughput to ``kb_per_second`` KB/s."""
        name = f"bandwidth_{stream}"
        self.add_toxic(name, "bandwidth", {"rate": kb_per_second}, stream=stream)
        return name

    def set_enabled(self, enabled: bool) -> None:
        """Disabled: the listener closes and every open connection is dropped (an outage)."""
        self.api.call("POST", f"/proxies/{self.name}", {"enabled": enabled})

    def enabled(self) -> bool:
        """Whether the proxy is up."""
        return bool(self.api.call("GET", f"/proxies/{self.name}")["enabled"])

    @contextmanager
    def outage(self) -> Iterator[None]:
        """The upstream is unreachable inside the block: connections are refused."""
        self.set_enabled(False)
        try:
            yield
        finally:
            self.set_enabled(True)

    def restore(self) -> None:
        """Back to a clean pipe: every toxic removed, the proxy enabled."""
        for toxic in self.toxics():
            self.remove_toxic(str(toxic["name"]))
        self.set_enabled(True)

    def delete(self) -> None:
        """Remove the proxy (its listener closes)."""
        self.api.call("DELETE", f"/proxies/{self.name}")


def proxied_kubeconfig(kubeconfig: Path, proxy: Proxy, dest: Path) -> Path:
    """A copy of ``kubeconfig`` whose clusters point at ``proxy`` (same CA: the serving certificate
    covers 127.0.0.1, so TLS verifies on the proxy's port too)."""
    doc = yaml.safe_load(kubeconfig.read_text())
    for cluster in doc.get("clusters") or []:
        cluster["cluster"]["server"] = proxy.url
    dest.write_text(yaml.safe_dump(doc))
    dest.chmod(0o600)
    return dest


class ToxiproxyServer:
    """``toxiproxy-server`` on a free 127.0.0.1 port, its log in ``log_dir``."""

    def __init__(self, bin_dir: Path, log_dir: Path) -> None:
        self.binary = bin_dir / BINARIES["server"]
        self.log_path = log_dir / "toxiproxy.log"
        self.port = 0
        self._popen: subprocess.Popen[bytes] | None = None
        self.api = ToxiproxyClient(0)

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until its API answers; raises ``ToxiproxyError``."""
        self.port = free_port()
        self.api = ToxiproxyClient(self.port)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                [str(self.binary), "-host", LOOPBACK, "-port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LOG_LEVEL": "warn"},
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._popen.poll() is not None:
                raise ToxiproxyError(f"toxiproxy-server exited with {self._popen.returncode}: {self._tail()}")
            try:
                self.api.version()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ToxiproxyError(
                        f"toxiproxy-server not answering after {timeout:.0f}s: {self._tail()}"
                    ) from None
                time.sleep(0.1)

    def _tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:]) if self.log_path.exists() else ""

    def proxy(self, name: str, upstream: str) -> Proxy:
        """Create a proxy on a free loopback port in front of ``upstream`` (``host:port``)."""
        port = free_port()
        self.api.call(
            "POST", "/proxies", {"name": name, "listen": f"{LOOPBACK}:{port}", "upstream": upstream, "enabled": True}
        )
        return Proxy(self.api, name, port, upstream)

    def stop(self) -> None:
        """Terminate the server (then kill it if it lingers)."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.terminate()
            try:
                self._popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait(timeout=10)
        self._popen = None


if __name__ == "__main__":
    print(ensure_toxiproxy(), file=sys.stdout)
