"""Staging: plaintext streamed in → encrypted ``.part`` file (0600) → fsync → checked → renamed.

Plaintext never touches the disk: it is hashed and encrypted as it arrives (``EnvelopeWriter``),
one chunk in memory at a time. An etcd snapshot is checked as ``etcdctl snapshot save`` /
``etcdutl snapshot restore`` do: etcd appends the SHA-256 of the database to the stream, so the
size must be ``512·n + 32`` and the SHA-256 of everything before the last 32 bytes must equal
those 32 bytes. A snapshot that fails the check is deleted here and never reaches a target.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.backup.envelope import EnvelopeWriter, WrappedKey
from bot.errors import AbortedError, PermanentError

TRAILER = 32  # sha256.Size
PAGE = 512
BATCH = 1024 * 1024  # the reader thread hands over ~1 MiB at a time (etcd sends 32 KiB messages)
READ_AHEAD = 4  # batches waiting for the encrypting side, at most
Handoff = queue.Queue[bytes | BaseException | None]  # a batch, the reader's error, or None: the end


class CorruptSnapshotError(PermanentError):
    """The snapshot failed etcd's own integrity check (size or trailing SHA-256)."""


class TrailerCheck:
    """Hashes everything but the last 32 bytes seen, which it holds back: etcd's snapshot trailer."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._held = b""
        self.size = 0

    def update(self, data: bytes) -> None:
        """Feed the next bytes of the stream (no copy of ``data`` beyond its last 32 bytes)."""
        self.size += len(data)
        if len(data) >= TRAILER:
            self._hash.update(self._held)
            self._hash.update(memoryview(data)[:-TRAILER])
            self._held = bytes(data[-TRAILER:])
            return
        joined = self._held + data
        if len(joined) > TRAILER:
            self._hash.update(joined[:-TRAILER])
        self._held = joined[-TRAILER:]

    def full_sha256(self) -> str:
        """Hex SHA-256 of every byte seen (body and trailer) — without hashing the data twice."""
        digest = self._hash.copy()
        digest.update(self._held)
        return digest.hexdigest()

    def verify(self) -> None:
        """Raise CorruptSnapshotError unless size % 512 == 32 and SHA-256(body) equals the trailer."""
        if self.size % PAGE != TRAILER:
            raise CorruptSnapshotError(
                f"the snapshot is {self.size} bytes, not 512·n + 32: it is truncated or has no integrity trailer"
            )
        if self._hash.digest() != self._held:
            raise CorruptSnapshotError("the snapshot's SHA-256 does not match its trailer: the data is corrupt")


@dataclass(frozen=True)
class StagedBackup:
    """An encrypted, checked backup file ready to upload, and the facts its metadata records."""

    path: Path
    content: str
    plaintext_size: int
    plaintext_sha256: str
    ciphertext_size: int
    ciphertext_sha256: str
    ciphertext_crc32: int  # the bytes every target reads for the upload must have it
    key: WrappedKey


class EncryptingSink:
    """A write-only file object: plaintext in, hashed and encrypted into the ``.part`` file."""

    def __init__(self, out: BinaryIO, data_key: bytes, key: WrappedKey, content: str, check: TrailerCheck | None):
        self._writer = EnvelopeWriter(out, data_key, key, content=content)
        self._plain = hashlib.sha256() if check is None else None  # the trailer check hashes it already
        self._check = check
        self.key = key

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Hash and encrypt ``data``."""
        block = data if isinstance(data, bytes) else bytes(data)
        if self._check is not None:
            self._check.update(block)
        else:
            assert self._plain is not None
            self._plain.update(block)
        self._writer.write(block)
        return len(block)

    def finish(self) -> tuple[int, str, int, str, int]:
        """Seal the last chunk: (plaintext size, plaintext sha256, ciphertext size, ciphertext sha256, CRC-32)."""
        self._writer.close()
        w = self._writer
        plain = self._check.full_sha256() if self._check is not None else self._plain.hexdigest()  # type: ignore[union-attr]
        return w.plaintext_bytes, plain, w.ciphertext_bytes, w.sha256, w.crc32


def stage(
    final: Path,
    data_key: bytes,
    key: WrappedKey,
    content: str,
    produce: Callable[[EncryptingSink], None],
    *,
    snapshot_trailer: bool,
) -> StagedBackup:
    """Write ``final + '.part'`` (0600) through ``produce``, fsync, check, and rename it to ``final``.

    ``produce`` streams the plaintext into the sink. On any failure the ``.part`` file is removed.
    """
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = final.with_name(final.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb", buffering=1024 * 1024) as out:
            check = TrailerCheck() if snapshot_trailer else None
            sink = EncryptingSink(out, data_key, key, content, check)
            produce(sink)
            plain_size, plain_sha, cipher_size, cipher_sha, cipher_crc = sink.finish()
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check.verify()
        os.replace(part, final)
        _fsync_dir(final.parent)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return StagedBackup(final, content, plain_size, plain_sha, cipher_size, cipher_sha, cipher_crc, key)


def feed(
    sink: EncryptingSink,
    chunks: Iterable[bytes],
    abort: threading.Event,
    progress: Callable[[int], None],
) -> None:
    """Copy ``chunks`` into ``sink``, reporting the byte count and stopping on ``abort``.

    A reader thread pulls ``chunks`` (the gRPC stream) and hands them over in ~1 MiB batches, at
    most ``READ_AHEAD`` waiting: receiving overlaps hashing, encrypting and writing, and memory
    stays bounded. An error on either side stops both.
    """
    handoff: Handoff = queue.Queue(maxsize=READ_AHEAD)
    stop = threading.Event()
    reader = threading.Thread(target=_read_ahead, args=(chunks, handoff, stop), name="backup-read-ahead", daemon=True)
    reader.start()
    total = 0
    try:
        while (batch := handoff.get()) is not None:
            if isinstance(batch, BaseException):
                raise batch
            if abort.is_set():
                raise AbortedError("aborted while streaming the snapshot; nothing was stored")
            sink.write(batch)
            total += len(batch)
            progress(total)
    finally:
        stop.set()
        # at the end the reader is done; after an error it notices ``stop`` at its next chunk, or
        # its stream fails when the caller closes the connection
        reader.join(timeout=1.0)


def _read_ahead(chunks: Iterable[bytes], handoff: Handoff, stop: threading.Event) -> None:
    """The reader thread of ``feed``: batches ``chunks`` into ``handoff``; None at the end, or the error."""
    pending: list[bytes] = []
    size = 0
    stream = iter(chunks)
    try:
        for chunk in stream:
            if stop.is_set():
                return
            pending.append(chunk)
            size += len(chunk)
            if size >= BATCH:
                if not _hand_over(handoff, b"".join(pending), stop):
                    return
                pending, size = [], 0
        if pending and not _hand_over(handoff, b"".join(pending), stop):
            return
        _hand_over(handoff, None, stop)
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
        _hand_over(handoff, exc, stop)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # a generator's cleanup: the snapshot call is cancelled


def _hand_over(handoff: Handoff, item: bytes | BaseException | None, stop: threading.Event) -> bool:
    """Put ``item``, waiting while the consumer is busy; False once it stopped."""
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
