"""S3 as a backup target: boto3's managed multipart upload, every part's CRC-32 checked by S3, and
the stored object compared with the staged file.

The staged file is uploaded by s3transfer (parts streamed from disk, ``upload_concurrency`` in
flight, botocore's retries per request), each part with its CRC-32, which S3 checks on receipt.
Meanwhile the file is read once more, off the upload's path, for the CRC-32 of each part and of the
whole: the whole must equal the CRC-32 taken while staging (the bytes sent are the bytes staged),
and after completion the object's size and composite CRC-32 (of the part CRC-32s, ``-N``) as S3
reports them must equal ours — otherwise the object is deleted. Any failure or abort before
completion aborts the multipart upload, so no object appears under the name.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
import botocore.exceptions
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from s3transfer.exceptions import CancelledError
from s3transfer.subscribers import BaseSubscriber
from s3transfer.utils import ChunksizeAdjuster

from bot.backup.manifest import MANIFEST_SUFFIX
from bot.backup.storage import UploadProgress, check_staged_crc
from bot.config.backup import S3Target
from bot.errors import AbortedError, PermanentError, TemporaryError

log = logging.getLogger("bot.backup")
POLL_SECONDS = 0.25  # how often the waiting thread reports progress and looks at Abort
READ_BLOCK = 1024 * 1024  # the CRC-32 pass reads the staged file in blocks this size


class S3BackupTarget:
    """A bucket and prefix."""

    def __init__(self, name: str, cfg: S3Target) -> None:
        self.name = name
        self._cfg = cfg
        self._prefix = cfg.prefix
        with self._errors("connect"):
            session = boto3.session.Session(profile_name=cfg.profile, region_name=cfg.region)
            self._s3: Any = session.client(
                "s3",
                endpoint_url=cfg.endpoint_url,
                verify=str(cfg.ca_bundle) if cfg.ca_bundle else None,
                config=Config(
                    retries={"mode": "standard", "max_attempts": cfg.max_attempts},
                    connect_timeout=10,
                    read_timeout=120,
                    s3={"addressing_style": "path"} if cfg.endpoint_url else {},
                    request_checksum_calculation="when_required",  # the upload asks for CRC-32 itself
                    response_checksum_validation="when_required",
                    user_agent_extra="k8s-runbook-bot",
                ),
            )

    def _key(self, object_name: str) -> str:
        return self._prefix + object_name

    def location(self, object_name: str) -> str:
        """``s3://bucket/prefix/object``."""
        return f"s3://{self._cfg.bucket}/{self._key(object_name)}"

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
        """Managed multipart upload (each part's CRC-32 checked by S3), then size and CRC-32s compared.

        Parts are streamed from the staged file, never read into memory whole; an abort cancels the
        transfer, which aborts the multipart upload.
        """
        bucket, key, size = self._cfg.bucket, self._key(object_name), local.stat().st_size
        part_size = self._cfg.part_size_mb * 1024 * 1024
        multipart = size >= part_size  # s3transfer's rule; below it, one PutObject
        # the part boundaries s3transfer will use (it enlarges the parts of a file beyond 10,000 of them)
        part_size = ChunksizeAdjuster().adjust_chunksize(part_size, size) if multipart else part_size
        parts_total = max(1, -(-size // part_size))
        extra: dict[str, Any] = {
            "Metadata": metadata,
            "ContentType": "application/octet-stream",
            "ChecksumAlgorithm": "CRC32",  # per part; S3 refuses a part whose bytes do not have it
        }
        if self._cfg.storage_class:
            extra["StorageClass"] = self._cfg.storage_class
        config = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=self._cfg.upload_concurrency,
            use_threads=True,
        )
        ours = _LocalCrcs(local, part_size if multipart else 0)
        ours.start()
        sent = _Sent()
        try:
            with self._errors(f"upload of {parts_total} part(s)"), create_transfer_manager(self._s3, config) as tm:
                future = tm.upload(str(local), bucket, key, extra_args=extra, subscribers=[sent])
                try:
                    while not sent.finished.wait(POLL_SECONDS):
                        if abort.is_set():
                            log.info("abort requested: cancelling the upload to %s", self.location(object_name))
                            future.cancel()  # parts in flight finish, then s3transfer aborts the multipart upload
                            break
                        progress(sent.bytes, min(parts_total, sent.bytes // part_size), parts_total)
                    future.result()
                except CancelledError:
                    raise AbortedError("aborted during the upload; the partial upload was discarded") from None
        finally:
            ours.join()
        progress(size, parts_total, parts_total)
        try:
            check_staged_crc(local, ours.result().whole, crc32)
        except PermanentError:
            self.delete(object_name)
            raise
        expected = ours.result().s3_checksum()
        with self._errors("HeadObject"):
            head = self._s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        stored = head.get("ChecksumCRC32")
        if int(head["ContentLength"]) != size or (stored is not None and not _same_checksum(stored, expected)):
            self.delete(object_name)
            raise PermanentError(
                f"S3 holds {head['ContentLength']} bytes with CRC-32 {stored} for {self.location(object_name)}, "
                f"not {size} bytes with CRC-32 {expected}; the object was deleted"
            )
        if stored is None:  # an S3-compatible store without flexible checksums
            return f"{parts_total} part(s) stored; size matches (the store reports no CRC-32 to compare)"
        return f"S3 checked each part's CRC-32; the object's size and CRC-32 {expected} match the staged file"

    def put_manifest(self, object_name: str, body: bytes) -> None:
        """PutObject with Content-MD5."""
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        with self._errors("PutObject (manifest)"):
            self._s3.put_object(
                Bucket=self._cfg.bucket,
                Key=self._key(object_name),
                Body=body,
                ContentMD5=md5,
                ContentType="application/json",
            )

    def manifests(self, cluster: str) -> Iterator[tuple[str, bytes]]:
        """Every manifest under ``<prefix><cluster>/``."""
        paginator = self._s3.get_paginator("list_objects_v2")
        with self._errors("ListObjectsV2"):
            pages = list(paginator.paginate(Bucket=self._cfg.bucket, Prefix=self._key(f"{cluster}/")))
        for page in pages:
            for item in page.get("Contents") or []:
                key = str(item["Key"])
                if key.endswith(MANIFEST_SUFFIX):
                    with self._errors("GetObject (manifest)"):
                        body = self._s3.get_object(Bucket=self._cfg.bucket, Key=key)["Body"].read()
                    yield key[len(self._prefix) :], body

    @contextmanager
    def open_read(self, object_name: str) -> Iterator[BinaryIO]:
        """The object's streaming body (read in chunks; never whole)."""
        with self._errors(f"GetObject {self.location(object_name)}"):
            body = self._s3.get_object(Bucket=self._cfg.bucket, Key=self._key(object_name))["Body"]
        try:
            yield cast(BinaryIO, body)
        finally:
            body.close()

    def delete(self, object_name: str) -> None:
        """DeleteObject."""
        with self._errors("DeleteObject"):
            self._s3.delete_object(Bucket=self._cfg.bucket, Key=self._key(object_name))

    def exists(self, object_name: str) -> bool:
        """HeadObject."""
        try:
            self._s3.head_object(Bucket=self._cfg.bucket, Key=self._key(object_name))
        except botocore.exceptions.ClientError as exc:
            if str((exc.response.get("Error") or {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except botocore.exceptions.NoCredentialsError:
            raise PermanentError("no AWS credentials for S3: give the bot an IAM role or AWS_* variables") from None
        except botocore.exceptions.ClientError as exc:
            err = exc.response.get("Error") or {}
            code, message = str(err.get("Code", "")), str(err.get("Message", ""))
            text = f"S3 {operation} on bucket {self._cfg.bucket} failed: {code}: {message}".rstrip(": ")
            if code in ("NoSuchKey", "404"):
                raise PermanentError(f"S3 {operation}: no such object") from None
            if code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"):
                raise TemporaryError(text, delay=5.0) from None
            raise PermanentError(text) from None
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
            # refused, reset or closed mid-body (ConnectionClosedError is an HTTPClientError): try again later
            raise TemporaryError(
                f"S3 {operation} on bucket {self._cfg.bucket} failed: connection lost ({type(exc).__name__}) "
                f"after {self._cfg.max_attempts} attempt(s)"
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise PermanentError(f"S3 {operation} failed: {type(exc).__name__}") from None


class _Sent(BaseSubscriber):  # type: ignore[misc]
    """Counts the bytes s3transfer has sent (callbacks come from its worker threads) and marks the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0
        self.finished = threading.Event()

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        with self._lock:
            self.bytes += bytes_transferred  # negative when a retried part starts over

    def on_done(self, future: Any, **kwargs: Any) -> None:
        self.finished.set()


@dataclass(frozen=True)
class _Crcs:
    parts: list[int]  # empty: a single PutObject
    whole: int

    def s3_checksum(self) -> str:
        """What S3 reports: the object's CRC-32, or for a multipart upload the CRC-32 of the part CRC-32s."""
        if not self.parts:
            return _b64(self.whole)
        return f"{_b64(zlib.crc32(b''.join(c.to_bytes(4, 'big') for c in self.parts)))}-{len(self.parts)}"


class _LocalCrcs(threading.Thread):
    """Reads the staged file once, in its own thread, for the CRC-32 of every part and of the whole."""

    def __init__(self, path: Path, part_size: int) -> None:
        super().__init__(name="s3-crc", daemon=True)
        self._path, self._part_size = path, part_size
        self._result: _Crcs | None = None
        self._error: OSError | None = None

    def run(self) -> None:
        parts: list[int] = []
        whole = part = left = 0
        try:
            with self._path.open("rb", buffering=0) as src:
                while data := src.read(READ_BLOCK):
                    whole = zlib.crc32(data, whole)
                    view = memoryview(data)
                    while self._part_size and len(view):
                        if left == 0:
                            part, left = 0, self._part_size
                        n = min(left, len(view))
                        part, left = zlib.crc32(view[:n], part), left - n
                        view = view[n:]
                        if left == 0:
                            parts.append(part)
        except OSError as exc:
            self._error = exc
            return
        if left:
            parts.append(part)  # the last, shorter part
        self._result = _Crcs(parts, whole)

    def result(self) -> _Crcs:
        """The CRC-32s (after ``join()``)."""
        if self._result is None:
            raise PermanentError(f"cannot read the staged file {self._path.name} again: {self._error}")
        return self._result


def _b64(crc: int) -> str:
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


def _same_checksum(stored: str, expected: str) -> bool:
    """S3 writes a composite checksum ``<b64>-N``; some S3-compatible stores leave out the ``-N``."""
    return stored == expected or ("-" not in stored and stored == expected.split("-", 1)[0])
