"""Backup targets: where encrypted backups and their manifests are stored.

A target uploads a staged file (in parts, one in memory at a time), confirms the stored bytes are
ours (``UploadCheck``), writes manifests, lists them, streams objects back and deletes them.
``DirectoryTarget`` is here; S3 (``storage_s3``) and Azure Blob (``storage_azure``) are the only
modules that import their SDKs, loaded lazily so a bot without them never imports boto3/azure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from bot.backup.manifest import MANIFEST_SUFFIX
from bot.config.backup import DirectoryTarget
from bot.errors import AbortedError, PermanentError

#: progress(bytes uploaded, parts done, parts in all)
UploadProgress = Callable[[int, int, int], None]
COPY_BLOCK = 4 * 1024 * 1024


def check_staged_crc(local: Path, read: int, staged: int) -> None:
    """PermanentError unless the bytes read for the upload have the CRC-32 computed while staging them."""
    if read != staged:
        raise PermanentError(
            f"the staged file {local.name} changed on disk after it was written (CRC-32 {read:08x}, "
            f"not {staged:08x}); nothing was stored"
        )


class BackupTarget(Protocol):
    """What the pipeline needs from a storage target."""

    name: str

    def location(self, object_name: str) -> str:
        """A human-readable URL of an object (``s3://bucket/key``)."""
        ...

    def upload(
        self,
        local: Path,
        object_name: str,
        metadata: dict[str, str],
        progress: UploadProgress,
        abort: threading.Event,
        *,
        crc32: int,
    ) -> str:
        """Store ``local`` as ``object_name``; return how the stored bytes were confirmed. Nothing is left
        visible under ``object_name`` when this raises. ``crc32`` is the CRC-32 of ``local`` computed
        while it was written: the bytes read for the upload must have it (``check_staged_crc``)."""
        ...

    def put_manifest(self, object_name: str, body: bytes) -> None:
        """Write a (small) manifest object."""
        ...

    def manifests(self, cluster: str) -> Iterator[tuple[str, bytes]]:
        """(name, body) of every manifest of ``cluster``."""
        ...

    def open_read(self, object_name: str) -> AbstractContextManager[BinaryIO]:
        """A readable stream of an object (PermanentError when it does not exist)."""
        ...

    def delete(self, object_name: str) -> None:
        """Delete an object (no error when it is already gone)."""
        ...

    def exists(self, object_name: str) -> bool:
        """Whether an object exists."""
        ...


class LocalDirectoryTarget:
    """A directory, typically a mount of another failure domain. Writes are fsynced and renamed into place."""

    def __init__(self, name: str, cfg: DirectoryTarget) -> None:
        self.name = name
        self.root = cfg.path

    def _path(self, object_name: str) -> Path:
        path = (self.root / object_name).resolve()
        if self.root.resolve() not in path.parents:
            raise PermanentError(f"object name {object_name!r} leaves the target directory")
        return path

    def location(self, object_name: str) -> str:
        """``file:///path/to/object``."""
        return self._path(object_name).as_uri()

    def upload(
        self,
        local: Path,
        object_name: str,
        metadata: dict[str, str],
        progress: UploadProgress,
        abort: threading.Event,
        *,
        crc32: int,
    ) -> str:
        """Copy in 4 MiB blocks into ``.part``, fsync, read back and compare SHA-256, rename.

        The blocks read must have the staged CRC-32 (``crc32``), so a staged file changed on disk is refused.
        """
        dest = self._path(object_name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        total = local.stat().st_size
        blocks = max(1, -(-total // COPY_BLOCK))
        written = hashlib.sha256()
        try:
            with local.open("rb") as src, open(part, "wb") as out:
                done, sent_crc = 0, 0
                while block := src.read(COPY_BLOCK):
                    if abort.is_set():
                        raise AbortedError("aborted during the upload; nothing was stored")
                    out.write(block)
                    written.update(block)
                    sent_crc = zlib.crc32(block, sent_crc)
                    done += len(block)
                    progress(done, -(-done // COPY_BLOCK), blocks)
                out.flush()
                os.fsync(out.fileno())
            check_staged_crc(local, sent_crc, crc32)
            if _sha256_file(part) != written.hexdigest():
                raise PermanentError(f"the copy in {self.root} differs from what was written: the volume is faulty")
            os.replace(part, dest)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return "read back from the directory, SHA-256 identical"

    def put_manifest(self, object_name: str, body: bytes) -> None:
        """Write, fsync and rename the manifest into place."""
        dest = self._path(object_name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        with open(part, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, dest)

    def manifests(self, cluster: str) -> Iterator[tuple[str, bytes]]:
        """Every ``*.manifest.json`` in the cluster's folder."""
        folder = self._path(cluster)
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*" + MANIFEST_SUFFIX)):
            yield f"{cluster}/{path.name}", path.read_bytes()

    @contextmanager
    def open_read(self, object_name: str) -> Iterator[BinaryIO]:
        """The object file, opened for reading."""
        try:
            with self._path(object_name).open("rb") as f:
                yield f
        except FileNotFoundError:
            raise PermanentError(f"{self.location(object_name)} does not exist") from None

    def delete(self, object_name: str) -> None:
        """Remove the file."""
        self._path(object_name).unlink(missing_ok=True)

    def exists(self, object_name: str) -> bool:
        """Whether the file exists."""
        return self._path(object_name).is_file()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def free_space_ok(folder: Path, needed: int) -> bool:
    """Whether ``folder`` (created if missing) has room for ``needed`` bytes plus 5%."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return shutil.disk_usage(folder).free >= needed * 1.05
