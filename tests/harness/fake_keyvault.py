"""A small fake Azure Key Vault (keys) over HTTPS on 127.0.0.1, speaking the REST wire format the SDK uses.

- Microsoft Entra: ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and the client-credentials
  ``POST /{tenant}/oauth2/v2.0/token`` (client secret checked), as ``fake_arm`` does;
- Key Vault: every request without a valid bearer token gets ``401`` with the vault's challenge
  (``WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="<vault>"``);
  ``GET /keys/{name}/{version}`` (the public JWK), ``POST /keys/{name}/{version}/wrapkey`` and
  ``/unwrapkey`` (``{"alg": "RSA-OAEP-256", "value": <base64url>}``) with a real RSA key.

TLS certificates come from ``trustme`` (azure-core refuses bearer tokens over plain HTTP).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_KEY = re.compile(r"^/keys/(?P<name>[^/]+)(?:/(?P<version>[^/]+))?(?:/(?P<op>wrapkey|unwrapkey))?/?$")
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def b64url(data: bytes) -> str:
    """Base64url without padding (JWK and Key Vault's encoding)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Decode base64url with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FakeKeyVault:
    """start(); ``key_id`` names an RSA key; ``client_secret`` is what the credential must present."""

    def __init__(self, workdir: Path, *, tenant: str = "kv-tenant", client_id: str = "runbook-bot-kv") -> None:
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = secrets.token_urlsafe(24)
        self.token = secrets.token_urlsafe(32)
        self.keys: dict[str, tuple[str, rsa.RSAPrivateKey]] = {}  # name -> (version, key)
        self.operations: list[tuple[str, str]] = []  # (operation, key name)
        self.ca = trustme.CA()
        self.ca_path = workdir / "fake-kv-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self._server: ThreadingHTTPServer | None = None
        self.lock = threading.Lock()

    def start(self) -> FakeKeyVault:
        """Listen on a free 127.0.0.1 port."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, name="fake-kv", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>`` (the vault URL and the Entra authority)."""
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def create_key(self, name: str) -> str:
        """A new RSA-2048 key; returns its versioned key id."""
        version = secrets.token_hex(16)
        with self.lock:
            self.keys[name] = (version, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return f"{self.base_url}/keys/{name}/{version}"

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Serve one request: (status, JSON body, extra headers)."""
        path = urlsplit(raw_path).path
        if path.endswith("/v2.0/.well-known/openid-configuration"):
            base = f"{self.base_url}/{self.tenant}"
            return (
                200,
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0",
                    "tenant_region_scope": "EU",
                },
                {},
            )
        if path.endswith("/oauth2/v2.0/token") and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret"}, {}
            return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": self.token}, {}
        if headers.get("authorization") != f"Bearer {self.token}":
            challenge = f'Bearer authorization="{self.base_url}/{self.tenant}", resource="{self.base_url}"'
            return (
                401,
                {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer"}},
                {"WWW-Authenticate": challenge},
            )
        m = _KEY.match(path)
        if m is None or m.group("name") not in self.keys:
            return 404, {"error": {"code": "KeyNotFound", "message": f"no key at {path}"}}, {}
        version, key = self.keys[m.group("name")]
        if m.group("version") not in (None, version):
            return 404, {"error": {"code": "KeyNotFound", "message": "no such key version"}}, {}
        kid = f"{self.base_url}/keys/{m.group('name')}/{version}"
        op = m.group("op")
        with self.lock:
            self.operations.append((op or method, m.group("name")))
        if op is None and method == "GET":
            pub = key.public_key().public_numbers()
            jwk = {
                "kid": kid,
                "kty": "RSA",
                "key_ops": ["wrapKey", "unwrapKey", "encrypt", "decrypt"],
                "n": b64url(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")),
                "e": b64url(pub.e.to_bytes(3, "big")),
            }
            return 200, {"key": jwk, "attributes": {"enabled": True, "recoveryLevel": "Purgeable"}}, {}
        doc = json.loads(body or b"{}")
        if doc.get("alg") != "RSA-OAEP-256":
            return 400, {"error": {"code": "BadParameter", "message": f"unsupported alg {doc.get('alg')}"}}, {}
        value = unb64url(str(doc.get("value", "")))
        if op == "wrapkey":
            return 200, {"kid": kid, "value": b64url(key.public_key().encrypt(value, OAEP))}, {}
        try:
            plain = key.decrypt(value, OAEP)
        except ValueError:
            return 400, {"error": {"code": "BadParameter", "message": "Unwrap failed"}}, {}
        return 200, {"kid": kid, "value": b64url(plain)}, {}


def _handler(vault: FakeKeyVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, doc, extra = vault.handle(self.command, self.path, headers, body)
            payload = json.dumps(doc).encode() if doc is not None else b""
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet; never prints tokens
            return

    return Handler
