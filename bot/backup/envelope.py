"""The encrypted backup format: a self-describing header, then AES-256-GCM chunks.

Every backup object (an etcd snapshot or an API export archive) is stored in this envelope,
written and read as a stream so no backup is ever held in memory::

    magic        8 bytes   b"K8RBAK\\x00\\x01"  (k8s-runbook-bot backup, format version 1)
    header_len   4 bytes   big-endian length of the header
    header       JSON (UTF-8): {"alg": "AES-256-GCM-STREAM", "chunk_size": 1048576,
                 "nonce_prefix": <7 random bytes, base64>, "content": "etcd-snapshot" | "api-export",
                 "key": {"provider", "key_id", "wrapped" (base64), "context"}}
    chunk 0..n-1 AES-256-GCM(data key, nonce, chunk, aad) = ciphertext || 16-byte tag

* The **data key** is 32 random bytes, fresh for every backup; only its *wrapped* form (by AWS KMS,
  Azure Key Vault or a key file — ``bot.backup.keys``) is stored, in the header.
* Every chunk but the last holds exactly ``chunk_size`` plaintext bytes; the last holds 0 to
  ``chunk_size`` bytes (an empty backup is one empty last chunk).
* **nonce** (12 bytes) = ``nonce_prefix`` (7) || chunk index (4, big-endian) || last-chunk flag (1:
  ``0x01`` on the last chunk, else ``0x00``) — the STREAM construction (Hoang et al., 2015): a chunk
  moved to another position, dropped, or presented as the last one no longer authenticates, so
  reordering and truncation (even at a chunk boundary) are detected, not only flipped bits.
* **aad** = SHA-256 of magic || header_len || header: the header (and the wrapped key in it) cannot
  be swapped or edited without every chunk failing.

``EnvelopeWriter`` encrypts while its caller streams plaintext in; ``decrypt_stream`` reads an
envelope chunk by chunk and writes plaintext out, raising ``EnvelopeError`` on the first chunk that
does not authenticate (nothing unauthenticated is ever returned as plaintext).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"K8RBAK\x00\x01"
ALGORITHM = "AES-256-GCM-STREAM"
CHUNK_SIZE = 1024 * 1024
TAG_SIZE = 16
MAX_HEADER = 64 * 1024
MAX_CHUNKS = 2**32


class EnvelopeError(Exception):
    """The object is not a valid envelope, or a chunk failed authentication (corrupt, truncated, wrong key)."""


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored: wrapped by a key provider, with what is needed to unwrap it."""

    provider: str  # aws-kms | azure-key-vault | key-file
    key_id: str
    wrapped: bytes
    context: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The header form."""
        return {
            "provider": self.provider,
            "key_id": self.key_id,
            "wrapped": base64.b64encode(self.wrapped).decode(),
            "context": dict(self.context),
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> WrappedKey:
        """Parse the header form (EnvelopeError when malformed)."""
        try:
            return WrappedKey(
                provider=str(doc["provider"]),
                key_id=str(doc["key_id"]),
                wrapped=base64.b64decode(doc["wrapped"], validate=True),
                context={str(k): str(v) for k, v in (doc.get("context") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EnvelopeError(f"the envelope's key section is malformed ({type(exc).__name__})") from None


@dataclass(frozen=True)
class EnvelopeHeader:
    """The parsed header of an envelope."""

    content: str
    key: WrappedKey
    chunk_size: int
    nonce_prefix: bytes
    raw: bytes  # magic || length || JSON, exactly as stored (the chunks' AAD is its SHA-256)


def _header_bytes(content: str, key: WrappedKey, chunk_size: int, nonce_prefix: bytes) -> bytes:
    doc = {
        "alg": ALGORITHM,
        "chunk_size": chunk_size,
        "nonce_prefix": base64.b64encode(nonce_prefix).decode(),
        "content": content,
        "key": key.to_json(),
    }
    body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack(">I", len(body)) + body


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= MAX_CHUNKS:
        raise EnvelopeError("the backup is too large for one envelope (2^32 chunks)")
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


class EnvelopeWriter:
    """Encrypts a plaintext stream into ``out`` chunk by chunk; ``close()`` writes the last chunk.

    Memory stays at one chunk whatever the size. ``sha256`` of everything written to ``out`` and
    the byte counts are available after ``close()`` (the metadata of the stored object).
    """

    def __init__(
        self, out: BinaryIO, data_key: bytes, key: WrappedKey, *, content: str, chunk_size: int = CHUNK_SIZE
    ) -> None:
        if len(data_key) != 32:
            raise ValueError("the data key must be 32 bytes (AES-256)")
        self._out = out
        self._aead = AESGCM(data_key)
        self._prefix = os.urandom(7)
        self._chunk_size = chunk_size
        self._buffer = bytearray(chunk_size)  # filled in place: one copy of each plaintext byte
        self._filled = 0
        self._index = 0
        self._hash = hashlib.sha256()
        self.crc32 = 0  # CRC-32 of the ciphertext: S3 checks the stored object against it (full-object checksum)
        self.plaintext_bytes = 0
        self.ciphertext_bytes = 0
        self.closed = False
        header = _header_bytes(content, key, chunk_size, self._prefix)
        self._aad = hashlib.sha256(header).digest()
        self._emit(header)

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self._hash.update(data)
        self.crc32 = zlib.crc32(data, self.crc32)
        self.ciphertext_bytes += len(data)

    def _seal(self, chunk: bytes | memoryview, last: bool) -> None:
        self._emit(self._aead.encrypt(_nonce(self._prefix, self._index, last), chunk, self._aad))
        self._index += 1

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Add plaintext; full chunks are encrypted and written at once."""
        if self.closed:
            raise ValueError("write after close")
        view = memoryview(data).cast("B")
        self.plaintext_bytes += len(view)
        size = self._chunk_size
        while len(view):
            # A full buffer is sealed only when more data arrives: only close() knows the last chunk.
            if self._filled == size:
                self._seal(memoryview(self._buffer), last=False)
                self._filled = 0
            n = min(size - self._filled, len(view))
            self._buffer[self._filled : self._filled + n] = view[:n]
            self._filled += n
            view = view[n:]

    def close(self) -> None:
        """Encrypt the remaining plaintext as the last chunk (flagged so truncation is detected)."""
        if self.closed:
            return
        self._seal(memoryview(self._buffer)[: self._filled], last=True)
        self._filled = 0
        self.closed = True

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the ciphertext written so far (the whole object after ``close()``)."""
        return self._hash.hexdigest()


def read_header(src: BinaryIO) -> EnvelopeHeader:
    """Read and check an envelope's header from ``src`` (positioned at the first chunk afterwards)."""
    magic = src.read(len(MAGIC))
    if magic != MAGIC:
        raise EnvelopeError("not a k8s-runbook-bot backup (bad magic): was it fetched without --decrypt already?")
    size_bytes = src.read(4)
    if len(size_bytes) != 4:
        raise EnvelopeError("the backup ends inside its header (truncated)")
    (size,) = struct.unpack(">I", size_bytes)
    if size > MAX_HEADER:
        raise EnvelopeError(f"header of {size} bytes is larger than allowed ({MAX_HEADER})")
    body = src.read(size)
    if len(body) != size:
        raise EnvelopeError("the backup ends inside its header (truncated)")
    try:
        doc = json.loads(body)
        if doc.get("alg") != ALGORITHM:
            raise EnvelopeError(f"unsupported algorithm {doc.get('alg')!r}")
        prefix = base64.b64decode(doc["nonce_prefix"], validate=True)
        chunk_size = int(doc["chunk_size"])
        content = str(doc["content"])
        key = WrappedKey.from_json(doc["key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"the backup's header is malformed ({type(exc).__name__})") from None
    if len(prefix) != 7 or not 1 <= chunk_size <= 64 * 1024 * 1024:
        raise EnvelopeError("the backup's header has an invalid nonce prefix or chunk size")
    return EnvelopeHeader(content, key, chunk_size, prefix, magic + size_bytes + body)


def decrypt_stream(
    src: BinaryIO,
    dst: BinaryIO | None,
    unwrap: Callable[[WrappedKey], bytes],
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> EnvelopeHeader:
    """Decrypt the envelope in ``src`` into ``dst`` (None: only authenticate), chunk by chunk.

    ``unwrap`` turns the header's wrapped key into the data key (a key provider). Raises
    ``EnvelopeError`` at the first chunk that fails (wrong key, corruption, reordering,
    truncation); plaintext already written to ``dst`` must then be discarded by the caller.
    """
    header = read_header(src)
    aead = AESGCM(unwrap(header.key))
    aad = hashlib.sha256(header.raw).digest()
    step = header.chunk_size + TAG_SIZE
    index = 0
    current = src.read(step)
    while True:
        nxt = src.read(step) if len(current) == step else b""
        last = not nxt
        if len(current) < TAG_SIZE:
            raise EnvelopeError(f"the backup is truncated (chunk {index} is incomplete)")
        try:
            plain = aead.decrypt(_nonce(header.nonce_prefix, index, last), current, aad)
        except InvalidTag:
            if index == 0:
                raise EnvelopeError(
                    "the first chunk does not authenticate: wrong key, or the backup is corrupt"
                ) from None
            reason = "truncated or corrupt" if last else "corrupt or reordered"
            raise EnvelopeError(f"chunk {index} does not authenticate: the backup is {reason}") from None
        if dst is not None:
            dst.write(plain)
        if on_chunk is not None:
            on_chunk(len(plain))
        if last:
            return header
        current = nxt
        index += 1
