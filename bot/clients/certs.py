"""Certificate expiry of a cluster: the API server's serving certificate and the client certificate.

The serving certificate is read from a TLS handshake with the API server. The handshake does not
verify the chain on purpose — an expired certificate must still be readable — and nothing is
sent over it. The client certificate is the one the kubeconfig authenticates the bot with (if
it uses one; tokens and exec plugins have none).
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID
from kubernetes import client


@dataclass(frozen=True)
class CertificateInfo:
    """One certificate whose end of validity matters."""

    source: str  # "API server serving certificate" / "kubeconfig client certificate"
    subject: str
    not_after: datetime


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string() or "(no subject)"


def serving_certificate(configuration: client.Configuration, timeout: float = 10.0) -> CertificateInfo | None:
    """The API server's serving certificate (None for a plain-HTTP server)."""
    parts = urlsplit(configuration.host)
    if parts.scheme != "https" or not parts.hostname:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # read-only: we only look at the certificate's dates (no CA bundle needed)
    with (
        socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout) as raw,
        ctx.wrap_socket(raw, server_hostname=parts.hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    return CertificateInfo("API server serving certificate", _common_name(cert), cert.not_valid_after_utc)


def client_certificate(configuration: client.Configuration) -> CertificateInfo | None:
    """The kubeconfig's client certificate (None when it authenticates otherwise)."""
    path = configuration.cert_file
    if not path:
        return None
    certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
    if not certs:
        return None
    cert = certs[0]
    return CertificateInfo("kubeconfig client certificate", _common_name(cert), cert.not_valid_after_utc)


def cluster_certificates(configuration: client.Configuration, timeout: float = 10.0) -> list[CertificateInfo]:
    """Both certificates of a cluster (those that exist); raises OSError/ValueError when unreadable."""
    found = [serving_certificate(configuration, timeout), client_certificate(configuration)]
    return [c for c in found if c is not None]
