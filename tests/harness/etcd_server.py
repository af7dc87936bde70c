"""Real etcd processes for the etcd-backup tests: client TLS on free 127.0.0.1 ports, put/get through its gateway.

``EtcdServer.start()`` runs the harness's etcd with a throw-away CA (``pki.CA``): a serving certificate
for 127.0.0.1 and a client certificate (``--client-cert-auth``), written to ``tls/`` for the bot to use.
Keys are written and read over etcd's own JSON gateway (``/v3/kv/put``, ``/v3/kv/range``) with the
client certificate — independent of the bot's gRPC client under test. ``EtcdServer.on_data_dir``
starts etcd on a restored data directory (the last step of a restore).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.harness.control_plane import LOOPBACK, _die_with_parent, free_port
from tests.harness.pki import CA, pem_cert


class EtcdServer:
    """One etcd member with client TLS. ``endpoint``, ``ca_file``, ``cert_file``, ``key_file`` after start."""

    def __init__(self, bin_dir: Path, workdir: Path | None = None, *, name: str = "default") -> None:
        self.bin_dir = bin_dir
        self.root = workdir or Path(tempfile.mkdtemp(prefix="etcd-backup-test-"))
        self.name = name
        self.data_dir = self.root / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.peer_port = 0
        tls = self.root / "tls"
        tls.mkdir(parents=True, exist_ok=True)
        self.ca_file, self.cert_file, self.key_file = tls / "ca.crt", tls / "client.crt", tls / "client.key"
        self._server_cert, self._server_key = tls / "server.crt", tls / "server.key"

    @property
    def endpoint(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://{LOOPBACK}:{self.port}"

    @property
    def peer_url(self) -> str:
        """``http://127.0.0.1:<peer port>``."""
        return f"http://{LOOPBACK}:{self.peer_port}"

    def _write_pki(self) -> None:
        if self.ca_file.exists():
            return
        ca = CA.create("etcd-test-ca")
        self.ca_file.write_bytes(pem_cert(ca.cert))
        cert, key = _serving_and_client(ca)
        self._server_cert.write_bytes(cert)
        self._server_key.write_bytes(key)
        cert, key = ca.issue("runbook-bot-etcd-client")
        self.cert_file.write_bytes(cert)
        self.key_file.write_bytes(key)
        self.key_file.chmod(0o600)

    def reserve_ports(self) -> EtcdServer:
        """Choose the client and peer ports now (a restore must name the peer URL before etcd starts)."""
        self.port, self.peer_port = free_port(), free_port()
        return self

    def start(self, *, data_dir: Path | None = None, extra: list[str] | None = None, new: bool = True) -> EtcdServer:
        """Start etcd (a new member on ``data_dir``, default ``root/data``) and wait until it answers."""
        self._write_pki()
        self.data_dir = data_dir or self.data_dir
        self.port, self.peer_port = self.port or free_port(), self.peer_port or free_port()
        args = [
            str(self.bin_dir / "etcd"),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            "--unsafe-no-fsync",
            f"--listen-client-urls={self.endpoint}",
            f"--advertise-client-urls={self.endpoint}",
            f"--listen-peer-urls={self.peer_url}",
            "--log-level=warn",
            f"--cert-file={self._server_cert}",
            f"--key-file={self._server_key}",
            f"--trusted-ca-file={self.ca_file}",
            "--client-cert-auth",
        ]
        if new:
            args += [f"--initial-advertise-peer-urls={self.peer_url}", f"--initial-cluster={self.name}={self.peer_url}"]
        self._log = (self.root / f"etcd-{self.port}.log").open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        self.proc = subprocess.Popen(
            args + (extra or []), stdout=self._log, stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if self.request("/health")[0] == 200:
                    return self
            except (OSError, http.client.HTTPException, ssl.SSLError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"etcd did not become healthy in 60s: {self.log_tail()}")

    def log_tail(self) -> str:
        """The end of this member's log."""
        logs = sorted(self.root.glob("etcd-*.log"))
        return logs[-1].read_text(errors="replace")[-2000:] if logs else ""

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None

    # -- the JSON gateway, with the client certificate -------------------------------------------
    def request(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """POST (or GET without body) ``path`` over HTTPS with the client certificate."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        conn = http.client.HTTPSConnection(LOOPBACK, self.port, context=ctx, timeout=60)
        try:
            if body is None:
                conn.request("GET", path)
            else:
                conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if data else None
        finally:
            conn.close()

    def put(self, key: str, value: bytes) -> int:
        """Put a key; returns the new revision."""
        status, doc = self.request("/v3/kv/put", {"key": _b64(key.encode()), "value": _b64(value)})
        assert status == 200, doc
        return int(doc["header"]["revision"])

    def get(self, key: str) -> bytes | None:
        """A key's value, or None."""
        status, doc = self.request("/v3/kv/range", {"key": _b64(key.encode())})
        assert status == 200, doc
        kvs = doc.get("kvs") or []
        return base64.b64decode(kvs[0]["value"]) if kvs else None

    def revision(self) -> int:
        """The store's current revision."""
        status, doc = self.request("/v3/kv/range", {"key": _b64(b"\0"), "count_only": True})
        assert status == 200, doc
        return int(doc["header"]["revision"])


def _serving_and_client(ca: CA) -> tuple[bytes, bytes]:
    """etcd's serving certificate: 127.0.0.1, and client auth too (its gateway dials etcd with it)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from tests.harness.pki import pem_key

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "etcd")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return pem_cert(cert), pem_key(key)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
