"""A real, throw-away Kubernetes control plane for the integration tests (envtest-style).

``ControlPlane`` starts etcd, kube-apiserver (RBAC on, audit log on), kube-controller-manager,
kube-scheduler and kwok (simulating nodes and kubelets) as real processes on free 127.0.0.1
ports, with every file -- certificates, kubeconfigs, etcd data, logs, the audit log -- in one
temporary folder. Clients authenticate with client certificates signed by a CA generated here.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

from tests.harness.pki import CA, kubeconfig_yaml, pem_cert, sa_keypair

LOOPBACK = "127.0.0.1"
CONTEXT = "envtest"
KWOK_ANNOTATION_SELECTOR = "kwok.x-k8s.io/node=fake"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KWOK_STAGES = Path(__file__).with_name("kwok_stages.yaml")
#: Identities of the control-plane components; their read-only traffic is left out of the audit log.
COMPONENT_USERS = ("system:kube-controller-manager", "system:kube-scheduler", "system:kwok")

AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # Noise: the components' and the apiserver's own reads and their lease heart-beats.
        {"level": "None", "users": [*COMPONENT_USERS, "system:apiserver"], "verbs": ["get", "list", "watch"]},
        {
            "level": "None",
            "users": [*COMPONENT_USERS, "system:apiserver"],
            "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}],
        },
        # Route writes with their bodies: the canary progression tests read the weights of every patch.
        {
            "level": "Request",
            "verbs": ["patch", "update"],
            "resources": [{"group": "gateway.networking.k8s.io", "resources": ["httproutes"]}],
        },
        # Everything else -- every request of every user not named above, impersonated or not.
        {"level": "Metadata"},
    ],
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------- processes


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGKILL the child if pytest dies without running its finalizers."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def tail_banner(self) -> str:
        """Heading for ``tail()`` in error messages (the log is deleted with the temp dir)."""
        return f"last lines of {self.log_path.name} (KEEP_CONTROL_PLANE=1 keeps {self.log_path.parent}):"

    def tail(self, lines: int = 40) -> str:
        """The last lines of the process's combined stdout/stderr log."""
        self.log_file.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class ControlPlaneError(RuntimeError):
    """A component of the control plane could not start."""


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok on 127.0.0.1.

    Use as a context manager, or call ``start()`` and ``stop()``. Attributes after start:
    ``server``, ``version``, ``admin_kubeconfig``, ``ca_file``, ``audit_log_path``, ``logs_dir``,
    ``startup_seconds``.
    """

    def __init__(self, bin_dir: Path, *, timeout: float = 120.0) -> None:
        """Prepare (not start) a control plane using the binaries in ``bin_dir``."""
        self.bin_dir = Path(bin_dir)
        self.timeout = timeout
        self._procs: list[_Proc] = []
        self._tmp: Path | None = None
        self._ca: CA | None = None
        self._user_kubeconfigs: dict[tuple[str, tuple[str, ...]], Path] = {}
        self.server = ""
        self.version = ""
        self.startup_seconds = 0.0

    # ------------------------------------------------------------------ paths
    @property
    def root(self) -> Path:
        """The temporary folder holding all state (only valid after ``start()``)."""
        if self._tmp is None:
            raise ControlPlaneError("control plane not started")
        return self._tmp

    @property
    def logs_dir(self) -> Path:
        """Folder with one log file per process."""
        return self.root / "logs"

    @property
    def ca_file(self) -> Path:
        """The CA that signs both the apiserver serving certificate and all client certificates."""
        return self.root / "pki" / "ca.crt"

    @property
    def admin_kubeconfig(self) -> Path:
        """Kubeconfig (context ``envtest``) for CN=admin, O=system:masters."""
        return self.root / "kubeconfigs" / "admin.kubeconfig"

    @property
    def audit_log_path(self) -> Path:
        """The apiserver's JSON-lines audit log."""
        return self.root / "audit.log"

    # -------------------------------------------------------------- lifecycle
    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start every process and wait until the cluster serves; raises ``ControlPlaneError``."""
        began = time.monotonic()
        self._tmp = Path(tempfile.mkdtemp(prefix="k8s-runbook-bot-cp-"))
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _start(self) -> None:
        for sub in ("pki", "logs", "kubeconfigs", "users", "apiserver", "controller-manager", "scheduler"):
            (self.root / sub).mkdir()
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        self.server = f"https://{LOOPBACK}:{api_port}"
        self._write_pki()

        etcd_url = f"http://{LOOPBACK}:{etcd_port}"
        peer_url = f"http://{LOOPBACK}:{peer_port}"
        etcd = self._spawn(
            "etcd",
            [
                "--name=default",
                f"--data-dir={self.root / 'etcd'}",
                "--unsafe-no-fsync",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--log-level=warn",
            ],
        )
        self._wait(etcd, lambda: _http_get(LOOPBACK, etcd_port, "/health")[0] == 200, 30)

        pki = self.root / "pki"
        policy = self.root / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
        apiserver = self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--secure-port={api_port}",
                # A loopback address is invalid in Endpoints: without this the reconciler errors every 10s.
                "--endpoint-reconciler-type=none",
                f"--cert-dir={self.root / 'apiserver'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={self.ca_file}",
                "--authorization-mode=Node,RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log_path}",
                "--audit-log-mode=blocking",
                "--audit-log-format=json",
                # kwok nodes' Hostname addresses do not resolve: reach their "kubelet" (kwok's server,
                # which serves pods/log from kwok Logs objects) at the InternalIP, 127.0.0.1.
                "--kubelet-preferred-address-types=InternalIP",
            ],
        )
        self._wait(
            apiserver,
            lambda: self._api_get("/readyz")[0] == 200,
            self.timeout,
            on_timeout=lambda: self._api_get("/readyz?verbose")[1],
        )
        status, body = self._api_get("/version")
        if status != 200:
            raise ControlPlaneError(f"GET /version answered {status}: {body}")
        self.version = str(json.loads(body)["gitVersion"])

        cm_port, sched_port, kwok_port = free_port(), free_port(), free_port()
        controller_manager = self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self._component_kubeconfig('system:kube-controller-manager')}",
                "--leader-elect=false",
                "--controllers=*",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={self.ca_file}",
                "--use-service-account-credentials=false",
                f"--bind-address={LOOPBACK}",
                f"--secure-port={cm_port}",
                f"--cert-dir={self.root / 'controller-manager'}",
            ],
        )
        scheduler = self._spawn(
            "kube-scheduler",
            [
                f"--kubeconfig={self._component_kubeconfig('system:kube-scheduler')}",
                "--leader-elect=false",
                f"--bind-address={LOOPBACK}",
                f"--secure-port={sched_port}",
                f"--cert-dir={self.root / 'scheduler'}",
            ],
        )
        install_kwok_logs_crd(self.admin_kubeconfig)  # before kwok starts watching Logs objects
        kwok_home = self.root / "kwok-home"  # kwok also reads ~/.kwok/kwok.yaml: keep it hermetic
        kwok_home.mkdir()
        kwok = self._spawn(
            "kwok",
            [
                f"--config={KWOK_STAGES}",
                f"--kubeconfig={self._component_kubeconfig('system:kwok')}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION_SELECTOR}",
                "--node-lease-duration-seconds=40",
                f"--server-address={LOOPBACK}:{kwok_port}",
                f"--node-port={kwok_port}",
                f"--node-ip={LOOPBACK}",
                "--cidr=10.244.0.0/16",
                # pods/log: a test creates a kwok `Logs` object naming the file kwok serves for a pod.
                "--enable-crds=Logs",
            ],
            extra_env={"HOME": str(kwok_home)},
        )
        self._wait(controller_manager, lambda: _https_get_insecure(cm_port, "/healthz") == 200, 60)
        self._wait(scheduler, lambda: _https_get_insecure(sched_port, "/healthz") == 200, 60)
        self._wait(kwok, lambda: _http_get(LOOPBACK, kwok_port, "/healthz")[0] == 200, 60)
        # The controllers really run once the service-account controller fills in `default`.
        self._wait(
            controller_manager,
            lambda: self._api_get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
            60,
        )

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL) in reverse start order; remove the temp dir."""
        while self._procs:
            proc = self._procs.pop()
            if proc.popen.poll() is None:
                proc.popen.terminate()
                try:
                    proc.popen.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                    proc.popen.wait(timeout=10)
            proc.log_file.close()
        if self._tmp is not None and os.environ.get("KEEP_CONTROL_PLANE") != "1":
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        atexit.unregister(self.stop)

    # ----------------------------------------------------------------- public
    def user_kubeconfig(self, user: str, groups: list[str]) -> Path:
        """Issue a client certificate for ``user`` (O=each group) and return a kubeconfig for it."""
        key = (user, tuple(groups))
        if key not in self._user_kubeconfigs:
            digest = hashlib.sha256(repr(key).encode()).hexdigest()[:10]
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", user)[:40]
            path = self.root / "users" / f"{slug}-{digest}.kubeconfig"
            self._write_kubeconfig(path, user, groups)
            self._user_kubeconfigs[key] = path
        return self._user_kubeconfigs[key]

    def read_audit_events(self, *, barrier: bool = True) -> list[dict[str, Any]]:
        """Every audit event of every request completed before this call (one JSON object per line).

        With ``barrier`` (the default) a marker request is made first and the log is read once the
        marker's own event is in it: everything that finished before is then written too, so a test
        never has to sleep to "let the audit log catch up".
        """
        marker = f"audit-barrier-{uuid.uuid4().hex[:12]}" if barrier else None
        if marker is not None:
            from kubernetes import client, config

            api = config.new_client_from_config(str(self.admin_kubeconfig))
            try:
                client.CoreV1Api(api).read_namespace(marker)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
            finally:
                api.close()
        deadline = time.monotonic() + 10
        while True:
            events = self._audit_lines()
            if marker is None or any((e.get("objectRef") or {}).get("name") == marker for e in events):
                return [e for e in events if (e.get("objectRef") or {}).get("name") != marker]
            if time.monotonic() > deadline:
                raise TimeoutError(f"the audit log never showed the barrier request {marker}")
            time.sleep(0.05)

    def _audit_lines(self) -> list[dict[str, Any]]:
        if not self.audit_log_path.exists():
            return []
        events = []
        for line in self.audit_log_path.read_text().splitlines():
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:  # a line still being written
                    continue
        return events

    # ---------------------------------------------------------------- helpers
    def _write_pki(self) -> None:
        pki = self.root / "pki"
        self._ca = CA.create("k8s-runbook-bot-test-ca")
        self.ca_file.write_bytes(pem_cert(self._ca.cert))
        cert, key = self._ca.issue("kube-apiserver", server=True)
        (pki / "apiserver.crt").write_bytes(cert)
        (pki / "apiserver.key").write_bytes(key)
        sa_private, sa_public = sa_keypair()
        (pki / "sa.key").write_bytes(sa_private)
        (pki / "sa.pub").write_bytes(sa_public)
        cert, key = self._ca.issue("admin", ["system:masters"])
        (pki / "admin.crt").write_bytes(cert)
        (pki / "admin.key").write_bytes(key)
        self._write_kubeconfig(self.admin_kubeconfig, "admin", ["system:masters"], cert_key=(cert, key))

    def _component_kubeconfig(self, user: str) -> Path:
        # Components run with --use-service-account-credentials=false, so they need broad rights.
        path = self.root / "kubeconfigs" / f"{user.split(':')[-1]}.kubeconfig"
        self._write_kubeconfig(path, user, ["system:masters"])
        return path

    def _write_kubeconfig(
        self, path: Path, user: str, groups: list[str], cert_key: tuple[bytes, bytes] | None = None
    ) -> None:
        if self._ca is None:
            raise ControlPlaneError("PKI not initialised")
        cert, key = cert_key or self._ca.issue(user, groups)
        path.write_text(kubeconfig_yaml(CONTEXT, self.server, pem_cert(self._ca.cert), user, cert, key))
        path.chmod(0o600)

    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> _Proc:
        """Start ``bin_dir/name`` with its output in ``logs/<name>.log`` (always from this thread)."""
        binary = self.bin_dir / name
        if not binary.is_file():
            raise ControlPlaneError(f"{name} not found in {self.bin_dir}")
        log_path = self.logs_dir / f"{name}.log"
        log_file = log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env.update(extra_env or {})
        popen = subprocess.Popen(
            [str(binary), *args],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.root,
            preexec_fn=_die_with_parent,  # PDEATHSIG: see _die_with_parent
        )
        proc = _Proc(name, popen, log_path, log_file)
        self._procs.append(proc)
        return proc

    def _wait(
        self,
        proc: _Proc,
        ready: Callable[[], bool],
        timeout: float,
        on_timeout: Callable[[], str] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for other in self._procs:
                if other.popen.poll() is not None:
                    raise ControlPlaneError(
                        f"{other.name} exited with code {other.popen.returncode} while waiting for "
                        f"{proc.name}; {other.tail_banner()}\n{other.tail()}"
                    )
            try:
                if ready():
                    return
            except (OSError, http.client.HTTPException, ssl.SSLError):
                pass
            if time.monotonic() > deadline:
                detail = ""
                if on_timeout is not None:
                    try:
                        detail = "\n" + on_timeout()
                    except (OSError, http.client.HTTPException) as exc:
                        detail = f"\n({exc})"
                raise ControlPlaneError(
                    f"{proc.name} not ready after {timeout:.0f}s{detail}\n{proc.tail_banner()}\n{proc.tail()}"
                )
            time.sleep(0.1)

    def _api_get(self, path: str) -> tuple[int, str]:
        """GET ``path`` from the apiserver as admin."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        pki = self.root / "pki"
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        port = int(self.server.rsplit(":", 1)[1])
        conn = http.client.HTTPSConnection(LOOPBACK, port, context=ctx, timeout=5)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode(errors="replace")
        finally:
            conn.close()


def install_kwok_logs_crd(kubeconfig: Path) -> None:
    """Install kwok's ``Logs`` CRD (from the kwok Go module, cached) so kwok can serve pod logs."""
    from kubernetes import config

    from tests.harness.crds import install_crds

    api = config.new_client_from_config(config_file=str(kubeconfig), context=CONTEXT)
    try:
        install_crds(api, "kwok", ("logs",))
    finally:
        api.close()


def _http_get(host: str, port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def _https_get_insecure(port: int, path: str) -> int:
    """GET a component's health endpoint (self-signed serving cert; loopback only)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(LOOPBACK, port, context=ctx, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()
