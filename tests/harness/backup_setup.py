"""The etcd-backup test world: a TLS etcd, moto (S3 + KMS), Azurite, a fake Key Vault, a key file.

``BackupWorld`` starts everything once (module fixtures use it); ``settings_doc`` builds the bot's
settings with three targets (``s3`` via moto, ``blob`` via Azurite, ``dir`` a folder) and three
keys (``kms`` via moto, ``kv`` via the fake vault, ``file``), for clusters named as the tests need.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from azure.storage.blob import BlobServiceClient

from tests.harness.azurite import Azurite
from tests.harness.control_plane import CONTEXT
from tests.harness.etcd_server import EtcdServer
from tests.harness.fake_keyvault import FakeKeyVault
from tests.harness.replace_setup import REGION, moto_server

BUCKET = "etcd-backups"
CONTAINER = "etcd-backups"


@dataclass
class BackupWorld:
    """Every real component the backup tests talk to."""

    bin_dir: Path
    root: Path
    etcd: EtcdServer = field(init=False)
    moto_url: str = ""
    kms_key: str = ""
    azurite: Azurite = field(init=False)
    vault: FakeKeyVault = field(init=False)
    kv_key: str = ""
    key_file: Path = field(init=False)
    kv_secret_file: Path = field(init=False)
    _stack: ExitStack = field(default_factory=ExitStack)

    def start(self) -> BackupWorld:
        """Start etcd, moto, Azurite and the fake vault; create the bucket, container and keys."""
        try:
            self.etcd = EtcdServer(self.bin_dir, self.root / "etcd").start()
            self._stack.callback(self.etcd.stop)
            self.moto_url = self._stack.enter_context(moto_server())
            s3 = boto3.client("s3", region_name=REGION, endpoint_url=self.moto_url)
            s3.create_bucket(Bucket=BUCKET)
            kms = boto3.client("kms", region_name=REGION, endpoint_url=self.moto_url)
            self.kms_key = kms.create_key(Description="etcd-backup test")["KeyMetadata"]["KeyId"]
            self.azurite = Azurite().start()
            self._stack.callback(self.azurite.stop)
            BlobServiceClient.from_connection_string(self.azurite.connection_string).create_container(CONTAINER)
            self.vault = FakeKeyVault(self.root).start()
            self._stack.callback(self.vault.stop)
            self.kv_key = self.vault.create_key("etcd-backup")
            self.kv_secret_file = self.root / "kv-client-secret"
            self.kv_secret_file.write_text(self.vault.client_secret)
            self.key_file = self.root / "backup.key"
            self.key_file.write_bytes(hashlib.sha256(b"etcd-backup-test-key").digest())
        except BaseException:
            self._stack.close()
            raise
        return self

    def stop(self) -> None:
        """Stop everything."""
        self._stack.close()

    def s3(self) -> Any:
        """A boto3 S3 client on moto."""
        return boto3.client("s3", region_name=REGION, endpoint_url=self.moto_url)

    def blobs(self) -> Any:
        """The test container on Azurite."""
        return BlobServiceClient.from_connection_string(self.azurite.connection_string).get_container_client(CONTAINER)

    def targets(self, s3_url: str | None = None, max_attempts: int = 5) -> dict[str, Any]:
        """The three targets (``s3_url`` overrides moto's address, e.g. with a cutting proxy)."""
        return {
            "s3": {
                "type": "s3",
                "bucket": BUCKET,
                "prefix": "etcd/",
                "region": REGION,
                "endpoint_url": s3_url or self.moto_url,
                "part_size_mb": 5,
                "max_attempts": max_attempts,
            },
            "blob": {
                "type": "azure_blob",
                "container": CONTAINER,
                "credential": "connection_string",
                "connection_string": self.azurite.connection_string,
                "block_size_mb": 1,
            },
            "dir": {"type": "directory", "path": str(self.root / "backups")},
        }

    def keys(self, key_file: Path | None = None) -> dict[str, Any]:
        """The three keys."""
        return {
            "kms": {"type": "aws_kms", "key_id": self.kms_key, "region": REGION, "endpoint_url": self.moto_url},
            "kv": {
                "type": "azure_key_vault",
                "key_id": self.kv_key,
                "credential": "client_secret",
                "tenant_id": self.vault.tenant,
                "client_id": self.vault.client_id,
                "client_secret_file": str(self.kv_secret_file),
                "authority": self.vault.base_url,
                "ca_bundle": str(self.vault.ca_path),
                "verify_challenge_resource": False,  # the fake vault is 127.0.0.1, not <name>.vault.azure.net
            },
            "file": {"type": "key_file", "path": str(key_file or self.key_file)},
        }

    def etcd_access(self, layout: str = "kubeadm") -> dict[str, Any]:
        """Endpoint and client certificate files of the test etcd."""
        return {
            "endpoints": [self.etcd.endpoint],
            "ca_file": str(self.etcd.ca_file),
            "cert_file": str(self.etcd.cert_file),
            "key_file": str(self.etcd.key_file),
            "layout": layout,
        }


def settings_doc(
    world: BackupWorld,
    kubeconfig: Path,
    store_url: str,
    clusters: dict[str, dict[str, Any]],
    *,
    s3_url: str | None = None,
    max_attempts: int = 5,
    key_file: Path | None = None,
) -> dict[str, Any]:
    """Settings with every name in ``clusters`` pointing at the test API server, and their backup sections."""
    return {
        "clusters": {name: {"kubeconfig": str(kubeconfig), "context": CONTEXT} for name in clusters},
        "store": {"url": store_url},
        "backup": {
            "staging_dir": str(world.root / "staging"),
            "targets": world.targets(s3_url, max_attempts),
            "keys": world.keys(key_file),
            "clusters": clusters,
        },
        "log_format": "text",
    }


def restore_and_read(
    bin_dir: Path, snapshot: Path, workdir: Path, keys: list[str], tls_from: EtcdServer
) -> dict[str, bytes | None]:
    """``etcdutl snapshot restore`` into a new data dir, start etcd on it, read ``keys`` back."""
    data_dir = workdir / "restored"
    member = member_like(bin_dir, workdir, tls_from)
    subprocess.run(
        [
            str(bin_dir / "etcdutl"),
            "snapshot",
            "restore",
            str(snapshot),
            "--data-dir",
            str(data_dir),
            "--name",
            member.name,
            "--initial-cluster",
            f"{member.name}={member.peer_url}",
            "--initial-advertise-peer-urls",
            member.peer_url,
            "--bump-revision",
            "1000000000",
            "--mark-compacted",
        ],
        check=True,
        capture_output=True,
    )
    return start_and_read(member, data_dir, keys)


def member_like(bin_dir: Path, workdir: Path, tls_from: EtcdServer, name: str = "restored") -> EtcdServer:
    """A not-yet-started member with ``tls_from``'s certificates and its ports chosen (for a restore)."""
    member = EtcdServer(bin_dir, workdir / f"member-{name}", name=name)
    for attr in ("ca_file", "cert_file", "key_file", "_server_cert", "_server_key"):
        shutil.copy(getattr(tls_from, attr), getattr(member, attr))
    return member.reserve_ports()


def start_and_read(member: EtcdServer, data_dir: Path, keys: list[str]) -> dict[str, bytes | None]:
    """Start ``member`` on a restored ``data_dir`` and read ``keys``."""
    member.start(data_dir=data_dir, new=False)
    try:
        return {k: member.get(k) for k in keys}
    finally:
        member.stop()


def tar_members(path: Path) -> dict[str, bytes]:
    """Every file of a (decrypted) API export archive."""
    out = {}
    with tarfile.open(path) as tar:
        for info in tar.getmembers():
            f = tar.extractfile(info)
            if f is not None:
                out[info.name] = f.read()
    return out
