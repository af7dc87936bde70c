"""Azure Blob Storage as a backup target: block blobs staged block by block, committed at the end.

Each block is sent with a transactional MD5 (``validate_content``: the service refuses a block
whose bytes differ); the block list is committed only after every block was staged, so a failed
upload leaves no blob (uncommitted blocks are discarded by the service after a week). After the
commit, the blob's size and committed block count must match ours.
"""

from __future__ import annotations

import base64
import io
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobBlock, BlobServiceClient, ContainerClient

from bot.backup.manifest import MANIFEST_SUFFIX
from bot.backup.storage import UploadProgress, check_staged_crc
from bot.config.backup import AzureBlobTarget
from bot.errors import AbortedError, PermanentError, TemporaryError


class AzureBlobBackupTarget:
    """A container and prefix."""

    def __init__(self, name: str, cfg: AzureBlobTarget) -> None:
        self.name = name
        self._cfg = cfg
        self._prefix = cfg.prefix
        self._container: ContainerClient | None = None

    def container(self) -> ContainerClient:
        """The container client (built on first use; the credential chain may be slow)."""
        if self._container is None:
            cfg = self._cfg
            if cfg.credential == "connection_string":
                assert cfg.connection_string is not None
                service = BlobServiceClient.from_connection_string(
                    cfg.connection_string.get_secret_value(), retry_total=3
                )
            else:
                service = BlobServiceClient(str(cfg.account_url), credential=self._credential(), retry_total=3)
            self._container = service.get_container_client(cfg.container)
        return self._container

    def _credential(self) -> Any:
        from azure.identity import ClientSecretCredential, DefaultAzureCredential

        cfg = self._cfg
        auth: dict[str, Any] = {"authority": cfg.authority} if cfg.authority else {}
        if cfg.credential == "client_secret":
            assert cfg.tenant_id
            assert cfg.client_id
            assert cfg.client_secret_file
            secret = cfg.client_secret_file.read_text(encoding="utf-8").strip()
            return ClientSecretCredential(cfg.tenant_id, cfg.client_id, secret, **auth)
        return DefaultAzureCredential(**auth)

    def _blob(self, object_name: str) -> str:
        return self._prefix + object_name

    def location(self, object_name: str) -> str:
        """``https://account.blob.core.windows.net/container/prefix/object``."""
        return f"{self.container().url.rstrip('/')}/{self._blob(object_name)}"

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
        """Stage blocks with transactional MD5, commit the block list with the metadata, check the result."""
        blob = self.container().get_blob_client(self._blob(object_name))
        size = local.stat().st_size
        block_size = self._cfg.block_size_mb * 1024 * 1024
        blocks_total = max(1, -(-size // block_size))
        blocks: list[BlobBlock] = []
        done, sent_crc = 0, 0
        with local.open("rb") as src:
            for number in range(blocks_total):
                if abort.is_set():
                    raise AbortedError("aborted during the upload; no blob was committed")
                body = src.read(block_size)
                block_id = base64.b64encode(f"{number:08d}".encode()).decode()
                with self._errors(f"stage block {number + 1}/{blocks_total}"):
                    blob.stage_block(block_id, body, length=len(body), validate_content=True)
                blocks.append(BlobBlock(block_id=block_id))
                sent_crc = zlib.crc32(body, sent_crc)
                done += len(body)
                del body
                progress(done, number + 1, blocks_total)
        check_staged_crc(local, sent_crc, crc32)  # before the commit: uncommitted blocks are never visible
        with self._errors("commit the block list"):
            blob.commit_block_list(blocks, metadata=metadata)
            props = blob.get_blob_properties()
        if int(props.size) != size:
            self.delete(object_name)
            raise PermanentError(f"the blob holds {props.size} bytes, not {size}; it was deleted")
        return f"Blob service checked every block's MD5 ({blocks_total} blocks); committed size matches"

    def put_manifest(self, object_name: str, body: bytes) -> None:
        """Upload the manifest (one request, MD5-validated)."""
        with self._errors("write the manifest"):
            self.container().upload_blob(self._blob(object_name), body, overwrite=True, validate_content=True)

    def manifests(self, cluster: str) -> Iterator[tuple[str, bytes]]:
        """Every manifest blob under ``<prefix><cluster>/``."""
        container = self.container()
        with self._errors("list blobs"):
            names = [b.name for b in container.list_blobs(name_starts_with=self._blob(f"{cluster}/"))]
        for name in names:
            if name.endswith(MANIFEST_SUFFIX):
                with self._errors("read a manifest"):
                    body = container.download_blob(name).readall()
                yield name[len(self._prefix) :], body

    @contextmanager
    def open_read(self, object_name: str) -> Iterator[BinaryIO]:
        """A file-like reader over the blob's download chunks (never the whole blob in memory)."""
        with self._errors(f"download {self.location(object_name)}"):
            downloader = self.container().download_blob(self._blob(object_name), max_concurrency=1)
        yield cast(BinaryIO, io.BufferedReader(_ChunkReader(downloader.chunks()), buffer_size=1024 * 1024))

    def delete(self, object_name: str) -> None:
        """Delete the blob (gone already is fine)."""
        try:
            with self._errors("delete"):
                self.container().delete_blob(self._blob(object_name))
        except PermanentError as exc:
            if "not found" not in str(exc):
                raise

    def exists(self, object_name: str) -> bool:
        """Whether the blob exists."""
        with self._errors("check a blob"):
            return bool(self.container().get_blob_client(self._blob(object_name)).exists())

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except ResourceNotFoundError:
            raise PermanentError(f"Azure Blob: cannot {operation}: not found") from None
        except ClientAuthenticationError as exc:
            first = (exc.message or type(exc).__name__).splitlines()[0][:200]
            raise PermanentError(f"Azure Blob authentication failed ({operation}): {first}") from None
        except HttpResponseError as exc:
            code = getattr(exc, "error_code", None)
            text = f"Azure Blob: cannot {operation}: HTTP {exc.status_code}" + (f" {code}" if code else "")
            if exc.status_code in (429, 500, 502, 503, 504):
                raise TemporaryError(text, delay=5.0) from None
            raise PermanentError(text) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise TemporaryError(f"Azure Blob: cannot {operation}: connection failed ({type(exc).__name__})") from None


class _ChunkReader(io.RawIOBase):
    """A raw, readable stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
