"""A minimal etcd v3 client: ``Maintenance.Status`` and the streamed ``Maintenance.Snapshot``, over gRPC.

Why this client: the Python etcd clients on PyPI are either unmaintained (``etcd3``, last release
2020, generated code that breaks on current protobuf), asyncio-only (``aetcd``), or speak the
JSON gateway (``etcd3gw``: the snapshot arrives base64-encoded in JSON). The bot needs two RPCs,
so it uses the official messages (``proto/etcd_maintenance.proto``, copied field for field from
etcd's ``rpc.proto``) with the maintained ``grpcio`` runtime. The ``.proto`` is package data,
compiled in-process by ``grpcio-tools`` on first use — no generated code to keep in sync and no
build step, so ``pip install -e .``, a wheel, the Docker image and a fresh CI machine all work.

TLS: the client certificate comes from files (kubeadm: ``/etc/kubernetes/pki/etcd/ca.crt`` +
``apiserver-etcd-client.{crt,key}``; kops etcd-manager: ``/etc/kubernetes/pki/kube-apiserver/
etcd-{ca,client}.*`` on port 4001; aks-engine: ``/etc/kubernetes/certs/{ca,etcdclient}.*``) or
from a Kubernetes Secret read with the bot's own identity. Key material is never logged.
"""

from __future__ import annotations

import base64
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import grpc
import grpc.experimental

from bot.config.backup import EtcdAccess
from bot.errors import AbortedError, PermanentError, TemporaryError

if TYPE_CHECKING:
    from bot.clients.kube import KubeAccess

PROTO_DIR = Path(__file__).with_name("proto")
PROTO_FILE = "etcd_maintenance.proto"
_LOAD_LOCK = threading.Lock()
_LOADED: tuple[ModuleType, ModuleType] | None = None


def etcd_proto() -> tuple[ModuleType, ModuleType]:
    """The message and service modules compiled from ``proto/etcd_maintenance.proto`` (once per process)."""
    global _LOADED
    with _LOAD_LOCK:
        if _LOADED is None:
            # grpc.protos_and_services resolves the file against sys.path; the folder is added only
            # for the compile and the module names (etcd_maintenance_pb2...) are unique to this file.
            sys.path.insert(0, str(PROTO_DIR))
            try:
                _LOADED = grpc.protos_and_services(PROTO_FILE)
            finally:
                sys.path.remove(str(PROTO_DIR))
        return _LOADED


@dataclass(frozen=True)
class EtcdTls:
    """The client certificate, key and CA (PEM). ``repr`` shows none of it."""

    ca: bytes = field(repr=False)
    cert: bytes = field(repr=False)
    key: bytes = field(repr=False)


def tls_material(access: EtcdAccess, kube: KubeAccess | None) -> EtcdTls | None:
    """The configured client certificate: from files, from the Secret (via ``kube``), or None (plain http)."""
    if access.secret is not None:
        if kube is None:
            raise PermanentError("the etcd client certificate is in a Secret, but no Kubernetes access was given")
        ref = access.secret
        from kubernetes.client.exceptions import ApiException

        try:
            secret = kube.core.read_namespaced_secret(ref.name, ref.namespace, _request_timeout=kube.timeout)
        except ApiException as exc:
            raise PermanentError(
                f"cannot read the etcd client certificate Secret {ref.namespace}/{ref.name}: HTTP {exc.status} "
                f"{exc.reason} (the bot's ServiceAccount needs `get` on that Secret)"
            ) from None
        data = secret.data or {}
        missing = [k for k in (ref.ca_key, ref.cert_key, ref.key_key) if k not in data]
        if missing:
            raise PermanentError(f"Secret {ref.namespace}/{ref.name} has no key(s) {', '.join(missing)}")
        return EtcdTls(*(base64.b64decode(data[k]) for k in (ref.ca_key, ref.cert_key, ref.key_key)))
    if access.ca_file and access.cert_file and access.key_file:
        try:
            return EtcdTls(access.ca_file.read_bytes(), access.cert_file.read_bytes(), access.key_file.read_bytes())
        except OSError as exc:
            raise PermanentError(f"cannot read the etcd client certificate: {exc.filename}: {exc.strerror}") from None
    return None


@dataclass(frozen=True)
class MemberStatus:
    """What ``Maintenance.Status`` says about the member we talk to."""

    endpoint: str
    member_id: str
    cluster_id: str
    revision: int
    version: str
    db_size: int
    leader: str
    is_learner: bool


@dataclass(frozen=True)
class SnapshotChunk:
    """One message of the snapshot stream: blob bytes, and the header revision (first message)."""

    blob: bytes
    revision: int
    remaining: int
    version: str


class EtcdMember:
    """A connection to one etcd member (the first endpoint that answers ``Status``)."""

    def __init__(self, access: EtcdAccess, tls: EtcdTls | None) -> None:
        self._access = access
        self._tls = tls
        self._channel: grpc.Channel | None = None
        self.endpoint = ""

    def _open(self, endpoint: str) -> grpc.Channel:
        url = urlsplit(endpoint)
        target = url.netloc
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            # the snapshot stream is read on the calling thread, without gRPC's polling thread:
            # ~10% faster for its 32 KiB messages (docs/benchmarks.md)
            (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1),
        ]
        if url.scheme == "http":
            return grpc.insecure_channel(target, options=options)
        if self._tls is None:
            raise PermanentError(f"{endpoint} is https but no client certificate is configured")
        if self._access.server_name:
            options.append(("grpc.ssl_target_name_override", self._access.server_name))
        creds = grpc.ssl_channel_credentials(self._tls.ca, self._tls.key, self._tls.cert)
        return grpc.secure_channel(target, creds, options=options)

    def connect(self) -> MemberStatus:
        """Try each endpoint in order; keep the first that answers ``Status``. TemporaryError if none does."""
        failures = []
        for endpoint in self._access.endpoints:
            channel = self._open(endpoint)
            self._channel, self.endpoint = channel, endpoint
            try:
                return self.status()
            except (TemporaryError, PermanentError) as exc:
                failures.append(f"{endpoint}: {exc}")
                channel.close()
                self._channel = None
        raise TemporaryError("no etcd member answered: " + "; ".join(failures), delay=10.0)

    def _stub(self) -> Any:
        if self._channel is None:
            raise PermanentError("not connected to an etcd member")
        _, services = etcd_proto()
        return services.MaintenanceStub(self._channel)

    def status(self) -> MemberStatus:
        """``Maintenance.Status`` of the connected member."""
        messages, _ = etcd_proto()
        try:
            resp = self._stub().Status(messages.StatusRequest(), timeout=15)
        except grpc.RpcError as exc:
            raise _rpc_error(exc, self.endpoint, "Status") from None
        return MemberStatus(
            endpoint=self.endpoint,
            member_id=f"{resp.header.member_id:x}",
            cluster_id=f"{resp.header.cluster_id:x}",
            revision=int(resp.header.revision),
            version=str(resp.version),
            db_size=int(resp.dbSize),
            leader=f"{resp.leader:x}",
            is_learner=bool(resp.isLearner),
        )

    def snapshot(self, abort: threading.Event | None = None) -> Iterator[SnapshotChunk]:
        """Stream ``Maintenance.Snapshot`` message by message (etcd sends 32 KiB blobs); cancel on ``abort``."""
        messages, _ = etcd_proto()
        call = self._stub().Snapshot(messages.SnapshotRequest(), timeout=self._access.timeout_seconds)
        try:
            for resp in call:
                if abort is not None and abort.is_set():
                    call.cancel()
                    raise AbortedError("the snapshot stream was cancelled on request; nothing was stored")
                yield SnapshotChunk(
                    bytes(resp.blob), int(resp.header.revision), int(resp.remaining_bytes), resp.version
                )
        except grpc.RpcError as exc:
            raise _rpc_error(exc, self.endpoint, "Snapshot") from None
        finally:
            call.cancel()

    def close(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None


def _rpc_error(exc: grpc.RpcError, endpoint: str, rpc: str) -> Exception:
    code = exc.code() if hasattr(exc, "code") else None
    detail = (exc.details() if hasattr(exc, "details") else "") or ""
    name = code.name if code is not None else "UNKNOWN"
    text = f"etcd {rpc} at {endpoint} failed: {name}" + (f": {detail[:300]}" if detail else "")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return TemporaryError(text, delay=10.0)
    if code == grpc.StatusCode.CANCELLED:
        return AbortedError(f"the etcd {rpc} stream was cancelled; nothing was stored")
    return PermanentError(text)
