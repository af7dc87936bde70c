"""Reading backups back: download, decrypt, check both SHA-256s, ``etcdutl snapshot status``.

``fetch`` writes a backup to a local file (0600) — decrypted or as stored — checking the
ciphertext and plaintext SHA-256 against the manifest and, for etcd snapshots, etcd's own trailer.
``verify`` does the same into a temporary file that it deletes, and then asks ``etcdutl snapshot
status`` (when it is installed) what the snapshot holds. Anything that does not check out raises
and leaves no output file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.backup.envelope import EnvelopeError, decrypt_stream
from bot.backup.keys import WrongKeyError
from bot.backup.manifest import BackupManifest
from bot.backup.setup import ClusterBackups
from bot.backup.staging import CorruptSnapshotError, TrailerCheck
from bot.errors import AbortedError, PermanentError


class VerificationError(PermanentError):
    """A stored backup does not match its manifest, or does not decrypt."""


class _HashingReader:
    """Reads through to ``src`` while hashing and counting what was read."""

    def __init__(self, src: BinaryIO, abort: threading.Event | None) -> None:
        self._src = src
        self._abort = abort
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        if self._abort is not None and self._abort.is_set():
            raise AbortedError("aborted while reading the backup")
        data = self._src.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data


class _CheckingWriter:
    """Writes plaintext to ``out`` (if any) while hashing it and checking etcd's trailer."""

    def __init__(self, out: BinaryIO | None, snapshot: bool) -> None:
        self._out = out
        self.hash = hashlib.sha256()
        self.trailer = TrailerCheck() if snapshot else None

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        if self.trailer is not None:
            self.trailer.update(data)
        if self._out is not None:
            self._out.write(data)
        return len(data)


@dataclass
class FetchResult:
    """What a fetch or verify found."""

    manifest: BackupManifest
    path: Path | None
    checks: list[str]
    status: dict[str, object] | None = None


def fetch(
    setup: ClusterBackups,
    manifest: BackupManifest,
    output: Path | None,
    *,
    decrypt: bool = True,
    abort: threading.Event | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> FetchResult:
    """Download ``manifest``'s backup into ``output`` (None: check only); decrypted unless ``decrypt`` is False."""
    target = setup.target(manifest.target)
    part = output.with_name(output.name + ".part") if output is not None else None
    out = _open_private(part) if part is not None else None
    checks: list[str] = []
    try:
        with target.open_read(manifest.object_name) as raw:
            reader = _HashingReader(raw, abort)
            if decrypt:
                writer = _CheckingWriter(out, manifest.kind == "etcd-snapshot")
                try:
                    decrypt_stream(
                        reader,  # type: ignore[arg-type]
                        writer,  # type: ignore[arg-type]
                        setup.unwrap,
                        on_chunk=on_bytes,
                    )
                except EnvelopeError as exc:
                    raise VerificationError(f"backup {manifest.id} does not decrypt: {exc}") from None
                except WrongKeyError as exc:
                    raise VerificationError(
                        f"backup {manifest.id} cannot be decrypted with the configured keys: {exc}"
                    ) from None
                _expect("plaintext SHA-256", writer.hash.hexdigest(), manifest.plaintext_sha256)
                checks.append(f"decrypted with {manifest.key_id}; every chunk authenticated")
                checks.append(f"plaintext SHA-256 {manifest.plaintext_sha256[:16]}… matches the manifest")
                if writer.trailer is not None:
                    try:
                        writer.trailer.verify()
                    except CorruptSnapshotError as exc:
                        raise VerificationError(str(exc)) from None
                    checks.append("etcd snapshot size and SHA-256 trailer are valid")
            else:
                while block := reader.read(1024 * 1024):
                    if out is not None:
                        out.write(block)
            _expect("ciphertext SHA-256", reader.hash.hexdigest(), manifest.ciphertext_sha256)
            checks.insert(0, f"downloaded {reader.size} bytes; ciphertext SHA-256 matches the manifest")
        if out is not None and part is not None and output is not None:
            out.flush()
            os.fsync(out.fileno())
            out.close()
            os.replace(part, output)
    except BaseException:
        if out is not None:
            out.close()
        if part is not None:
            part.unlink(missing_ok=True)
        raise
    return FetchResult(manifest, output, checks)


def verify(
    setup: ClusterBackups, manifest: BackupManifest, *, etcdutl: str | None = None, abort: threading.Event | None = None
) -> FetchResult:
    """Download, decrypt and check a backup; for snapshots also ``etcdutl snapshot status`` if available."""
    if manifest.kind != "etcd-snapshot":
        return fetch(setup, manifest, None, abort=abort)
    tmp = setup.settings.staging_dir / f".verify-{manifest.id}.db"
    setup.settings.staging_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        result = fetch(setup, manifest, tmp, abort=abort)
        exe = etcdutl or shutil.which("etcdutl")
        if exe is None:
            result.checks.append("etcdutl not found on PATH: `snapshot status` skipped")
        else:
            result.status = snapshot_status(exe, tmp)
            result.checks.append(
                f"etcdutl snapshot status: revision {result.status.get('revision')}, "
                f"{result.status.get('totalKey')} keys, hash {result.status.get('hash')}"
            )
        result.path = None
        return result
    finally:
        tmp.unlink(missing_ok=True)


def snapshot_status(etcdutl: str, path: Path) -> dict[str, object]:
    """``etcdutl snapshot status FILE -w json`` (argument list, no shell)."""
    proc = subprocess.run(
        [etcdutl, "snapshot", "status", str(path), "-w", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise VerificationError(f"etcdutl snapshot status failed: {(proc.stderr or proc.stdout).strip()[:300]}")
    try:
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise VerificationError(f"etcdutl snapshot status printed no JSON: {proc.stdout[:200]}") from None
    return dict(doc)


def _expect(what: str, got: str, want: str) -> None:
    if got != want:
        raise VerificationError(f"{what} is {got[:16]}…, the manifest says {want[:16]}…: the stored backup was altered")


def _open_private(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "wb", buffering=1024 * 1024)
