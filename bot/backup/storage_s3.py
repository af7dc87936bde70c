"""S3 as a backup target: multipart uploads one part at a time, each part's MD5 checked by S3.

Every part is sent with ``Content-MD5`` (S3 refuses a part whose bytes differ) and its ETag is
compared with our MD5; after ``CompleteMultipartUpload`` the object's size and multipart ETag
(MD5 of the part MD5s, ``-N``) must match ours. A failure aborts the multipart upload, so no object
appears under the name. Part requests are retried by botocore (``max_attempts``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
import botocore.exceptions
from botocore.config import Config

from bot.backup.manifest import MANIFEST_SUFFIX
from bot.backup.storage import UploadProgress
from bot.config.backup import S3Target
from bot.errors import AbortedError, PermanentError, TemporaryError


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
                    request_checksum_calculation="when_required",  # each part carries Content-MD5 instead
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
        self, local: Path, object_name: str, metadata: dict[str, str], progress: UploadProgress, abort: threading.Event
    ) -> str:
        """Multipart upload with per-part Content-MD5, then size and ETag checked; aborted on any failure.

        ``upload_concurrency`` parts are in flight at once; each is streamed from the staged file
        (never read into memory whole), so memory does not grow with the part size or the concurrency.
        """
        bucket, key, size = self._cfg.bucket, self._key(object_name), local.stat().st_size
        part_size = self._cfg.part_size_mb * 1024 * 1024
        parts_total = max(1, -(-size // part_size))
        extra: dict[str, Any] = {"StorageClass": self._cfg.storage_class} if self._cfg.storage_class else {}
        with self._errors("CreateMultipartUpload"):
            upload_id = self._s3.create_multipart_upload(
                Bucket=bucket, Key=key, Metadata=metadata, ContentType="application/octet-stream", **extra
            )["UploadId"]

        def send(number: int) -> tuple[int, str, bytes, int]:
            offset = (number - 1) * part_size
            length = min(part_size, size - offset)
            with _PartReader(local, offset, length) as body:
                md5 = body.md5()
                with self._errors(f"UploadPart {number}/{parts_total}"):
                    etag = self._s3.upload_part(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=body,
                        ContentLength=length,
                        ContentMD5=base64.b64encode(md5).decode(),
                    )["ETag"]
            if etag.strip('"') != md5.hex():
                raise PermanentError(f"S3 stored part {number} with ETag {etag}, not our MD5 {md5.hex()}")
            return number, etag, md5, length

        try:
            done_parts = _run_bounded(send, parts_total, self._cfg.upload_concurrency, abort, progress)
            parts = [{"ETag": etag, "PartNumber": n} for n, etag, _md5, _len in done_parts]
            digests = [md5 for _n, _etag, md5, _len in done_parts]
            with self._errors("CompleteMultipartUpload"):
                self._s3.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            self._abort_upload(key, upload_id)
            raise
        expected = f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"
        with self._errors("HeadObject"):
            head = self._s3.head_object(Bucket=bucket, Key=key)
        if int(head["ContentLength"]) != size or head["ETag"].strip('"') != expected:
            self.delete(object_name)
            raise PermanentError(
                f"S3 holds {head['ContentLength']} bytes with ETag {head['ETag']} for {self.location(object_name)}, "
                f"not {size} bytes with ETag {expected}; the object was deleted"
            )
        return f"S3 checked every part's Content-MD5; size and multipart ETag {expected} match"

    def _abort_upload(self, key: str, upload_id: str) -> None:
        # S3 itself unreachable: nothing was completed, so nothing is visible; the bucket's
        # AbortIncompleteMultipartUpload lifecycle rule (see README) removes the parts.
        with contextlib.suppress(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            self._s3.abort_multipart_upload(Bucket=self._cfg.bucket, Key=key, UploadId=upload_id)

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


class _PartReader(io.RawIOBase):
    """A seekable, read-only window ``[offset, offset + length)`` of a file: one part's body, streamed."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._file = path.open("rb")
        self._offset, self._length, self._pos = offset, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        left = self._length - self._pos
        n = left if size is None or size < 0 else min(size, left)
        if n <= 0:
            return b""
        self._file.seek(self._offset + self._pos)
        data = self._file.read(n)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def md5(self) -> bytes:
        """MD5 of the window (read in 1 MiB blocks), for Content-MD5."""
        digest = hashlib.md5(usedforsecurity=False)
        self.seek(0)
        while block := self.read(1024 * 1024):
            digest.update(block)
        self.seek(0)
        return digest.digest()

    def close(self) -> None:
        self._file.close()
        super().close()


def _run_bounded(
    work: Callable[[int], tuple[int, str, bytes, int]],
    total: int,
    concurrency: int,
    abort: threading.Event,
    progress: UploadProgress,
) -> list[tuple[int, str, bytes, int]]:
    """``work(1..total)`` with at most ``concurrency`` in flight; results by part number; the first error wins."""
    results: dict[int, tuple[int, str, bytes, int]] = {}
    sent = 0
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="s3-part") as pool:
        pending: set[Future[tuple[int, str, bytes, int]]] = set()
        next_part = 1
        try:
            while next_part <= total or pending:
                while next_part <= total and len(pending) < concurrency:
                    if abort.is_set():
                        raise AbortedError("aborted during the upload; the partial upload was discarded")
                    pending.add(pool.submit(work, next_part))
                    next_part += 1
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    number, etag, md5, length = future.result()
                    results[number] = (number, etag, md5, length)
                    sent += length
                    progress(sent, len(results), total)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return [results[n] for n in sorted(results)]
