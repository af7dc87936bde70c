"""etcd-backup's pipeline against real components: a TLS etcd, moto (S3 + KMS), Azurite, a fake Key Vault.

Round trip per target (keys put into etcd → backup → fetch → decrypt → ``etcdutl snapshot restore``
→ etcd started on it → keys read back), corrupt snapshots refused before any upload, uploads cut
mid-way by a real TCP fault (retried, or abandoned with nothing listed), a byte flipped on the way
or changed in the staged file caught by the CRC-32 checks, no plaintext in the stored object, the
wrong key refused, retention keeping exactly its set, abort while streaming and while uploading.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.backup import pipeline
from bot.backup.etcd_client import EtcdMember, SnapshotChunk
from bot.backup.manifest import BackupManifest
from bot.backup.pipeline import list_backups
from bot.backup.readback import VerificationError, fetch, verify
from bot.backup.runner import BackupRun, run_backup
from bot.backup.setup import ClusterBackups
from bot.backup.staging import CorruptSnapshotError, EncryptingSink, StagedBackup
from bot.config.settings import Settings
from bot.errors import AbortedError, PermanentError, TemporaryError
from bot.store import Store
from tests.harness.backup_setup import BUCKET, BackupWorld, restore_and_read, settings_doc
from tests.harness.cut_proxy import CuttingProxy

pytestmark = pytest.mark.integration


def make_settings(world: BackupWorld, tmp: Path, clusters: dict[str, dict[str, Any]], **kw: Any) -> Settings:
    return Settings(**settings_doc(world, tmp / "unused-kubeconfig", f"sqlite:///{tmp / 'store.db'}", clusters, **kw))


def etcd_cluster(world: BackupWorld, target: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"target": target, "key": key, "etcd": world.etcd_access(), **extra}


def take(
    settings: Settings,
    cluster: str,
    *,
    store: Store | None = None,
    at: datetime | None = None,
    lines: list[str] | None = None,
) -> BackupRun:
    return run_backup(
        settings.backup,
        cluster,
        kube=None,
        store=store,
        record_id=f"{cluster}-{uuid.uuid4().hex[:8]}",
        emit=(lines if lines is not None else []).append,
        abort=threading.Event(),
        clock=(lambda: at) if at else (lambda: datetime.now(UTC)),
    )


def put_known_keys(world: BackupWorld, n: int = 5) -> dict[str, bytes]:
    tag = uuid.uuid4().hex[:10]
    keys = {f"/registry/secrets/backup-test/{tag}-{i}": f"s3cr3t-{tag}-{i}".encode() for i in range(n)}
    for k, v in keys.items():
        world.etcd.put(k, v)
    return keys


def raw_object(world: BackupWorld, target: str, name: str) -> bytes:
    """The stored object's bytes, read with the storage's own client (not the bot's)."""
    if target == "s3":
        return bytes(world.s3().get_object(Bucket=BUCKET, Key="etcd/" + name)["Body"].read())
    if target == "blob":
        return bytes(world.blobs().download_blob(name).readall())
    return (world.root / "backups" / name).read_bytes()


def objects_of(world: BackupWorld, cluster: str) -> list[str]:
    """Every object stored under the cluster's prefix in S3, and the open multipart uploads."""
    s3 = world.s3()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"etcd/{cluster}/").get("Contents") or []]
    uploads = [u["Key"] for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads") or [] if cluster in u["Key"]]
    return keys + [f"(multipart) {u}" for u in uploads]


@pytest.mark.parametrize(("target", "key"), [("s3", "kms"), ("blob", "kv"), ("dir", "file")])
def test_round_trip_restores_the_keys_and_stores_no_plaintext(
    backup_world: BackupWorld, tmp_path: Path, target: str, key: str
) -> None:
    world = backup_world
    cluster = f"rt-{target}"
    settings = make_settings(world, tmp_path, {cluster: etcd_cluster(world, target, key)})
    keys = put_known_keys(world)
    revision = world.etcd.revision()
    lines: list[str] = []
    run = take(settings, cluster, lines=lines)

    assert run.choice.mode == "etcd"
    assert run.outcome is not None
    m = run.outcome.manifest
    assert m.revision is not None
    assert m.revision >= revision
    assert m.plaintext_size % 512 == 32, "the snapshot keeps etcd's trailer, as etcdctl's does"
    assert m.key_provider == {"kms": "aws-kms", "kv": "azure-key-vault", "file": "key-file"}[key]
    assert any(line.startswith("uploading: part") for line in lines), lines
    setup = ClusterBackups(settings.backup, cluster)
    assert [b.id for b in list_backups(setup)] == [m.id]

    stored = raw_object(world, target, m.object_name)
    assert len(stored) == m.ciphertext_size
    for k, v in keys.items():
        assert k.encode() not in stored, "the stored object holds no plaintext key or value"
        assert v not in stored, "the stored object holds no plaintext key or value"
    if target == "s3":
        head = world.s3().head_object(Bucket=BUCKET, Key="etcd/" + m.object_name)
        assert head["Metadata"]["revision"] == str(m.revision)
        assert head["Metadata"]["plaintext_sha256"] == m.plaintext_sha256
        assert head["Metadata"]["key_id"] == m.key_id
    if key == "kv":
        assert ("unwrapkey", "etcd-backup") in world.vault.operations, "the data key went through the vault"

    snapshot = tmp_path / "snapshot.db"
    result = fetch(setup, m, snapshot)
    assert snapshot.stat().st_mode & 0o777 == 0o600
    assert any("plaintext SHA-256" in c for c in result.checks)
    restored = restore_and_read(world.bin_dir, snapshot, tmp_path, list(keys), world.etcd)
    assert restored == keys


def corrupting(kind: str) -> Any:
    """A replacement for EtcdMember.snapshot that damages what the real etcd sends (a network fault)."""
    original = EtcdMember.snapshot

    def snapshot(self: EtcdMember, abort: threading.Event | None = None) -> Iterator[SnapshotChunk]:
        chunks = list(original(self, abort))
        if kind == "flip":
            c = chunks[len(chunks) // 2]
            blob = bytearray(c.blob)
            blob[len(blob) // 2] ^= 0x01
            chunks[len(chunks) // 2] = SnapshotChunk(bytes(blob), c.revision, c.remaining, c.version)
        else:
            last = chunks[-1]
            chunks[-1] = SnapshotChunk(last.blob[:-100], last.revision, last.remaining, last.version)
        yield from chunks

    return snapshot


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_corrupt_snapshot_is_refused_and_never_uploaded(
    backup_world: BackupWorld, tmp_path: Path, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = backup_world
    cluster = f"corrupt-{damage}"
    settings = make_settings(world, tmp_path, {cluster: etcd_cluster(world, "s3", "kms")})
    put_known_keys(world)
    monkeypatch.setattr(EtcdMember, "snapshot", corrupting(damage))
    store = Store.open(settings.store.url)
    try:
        with pytest.raises(CorruptSnapshotError) as err:
            take(settings, cluster, store=store)
        assert ("SHA-256 does not match" if damage == "flip" else "not 512·n + 32") in str(err.value)
        assert store.last_backup(cluster) is None, "nothing valid recorded"
        assert store.last_backup(cluster, status="failed") is not None
    finally:
        store.close()
    assert objects_of(world, cluster) == [], "nothing reached S3, not even a part"
    assert list((world.root / "staging").glob(f"{cluster}-*")) == [], "the .part file was removed"


def test_an_upload_cut_once_is_retried_and_listed(backup_world: BackupWorld, tmp_path: Path) -> None:
    world = backup_world
    host, port = world.moto_url.removeprefix("http://").split(":")
    proxy = CuttingProxy((host, int(port))).start()
    try:
        cluster = "cut-once"
        settings = make_settings(world, tmp_path, {cluster: etcd_cluster(world, "s3", "file")}, s3_url=proxy.url)
        bulk(world)  # a db of 6+ MB: two 5 MB parts
        proxy.arm(1024 * 1024, stay_down=False)
        run = take(settings, cluster)
        assert proxy.cuts == 1, "the connection really was cut mid-upload"
        assert run.outcome is not None
        setup = ClusterBackups(settings.backup, cluster)
        assert [b.id for b in list_backups(setup)] == [run.outcome.manifest.id]
        assert verify(setup, run.outcome.manifest, etcdutl=str(world.bin_dir / "etcdutl")).status is not None
    finally:
        proxy.stop()


def test_an_upload_cut_for_good_leaves_nothing_listed(backup_world: BackupWorld, tmp_path: Path) -> None:
    world = backup_world
    host, port = world.moto_url.removeprefix("http://").split(":")
    proxy = CuttingProxy((host, int(port))).start()
    cluster = "cut-for-good"
    settings = make_settings(
        world, tmp_path, {cluster: etcd_cluster(world, "s3", "file")}, s3_url=proxy.url, max_attempts=2
    )
    store = Store.open(settings.store.url)
    try:
        proxy.arm(1024 * 1024, stay_down=True)
        with pytest.raises(TemporaryError) as err:
            take(settings, cluster, store=store)
        assert "connection lost" in str(err.value)
        assert store.last_backup(cluster) is None
        assert store.last_backup(cluster, status="failed") is not None
    finally:
        store.close()
        proxy.stop()
    direct = make_settings(world, tmp_path, {cluster: etcd_cluster(world, "s3", "file")})
    assert list_backups(ClusterBackups(direct.backup, cluster)) == [], "nothing listed as a backup"
    assert [o for o in objects_of(world, cluster) if not o.startswith("(multipart)")] == [], "no object completed"
    assert list((world.root / "staging").glob(f"{cluster}-*")) == []


def bulk(world: BackupWorld, megabytes: int = 6) -> None:
    """Grow the test etcd so its snapshot takes more than one 5 MiB part."""
    for _ in range(2 * megabytes):
        world.etcd.put(f"/bulk/{uuid.uuid4().hex}", os.urandom(500_000))


def test_a_byte_flipped_on_the_way_to_s3_is_caught_and_nothing_is_listed(
    backup_world: BackupWorld, tmp_path: Path
) -> None:
    """A corrupting network path: the stored object's CRC-32 differs from the staged file's, so the
    object is refused (by S3's full-object check, or by the bot's own comparison after completion)."""
    world = backup_world
    host, port = world.moto_url.removeprefix("http://").split(":")
    proxy = CuttingProxy((host, int(port))).start()
    cluster = "flipped"
    settings = make_settings(world, tmp_path, {cluster: etcd_cluster(world, "s3", "file")}, s3_url=proxy.url)
    try:
        bulk(world)
        proxy.flip(1024 * 1024)  # inside a part's body: every request's headers are far smaller
        with pytest.raises(PermanentError) as err:
            take(settings, cluster)
        assert proxy.flipped == 1, "a byte really was flipped on the way"
    finally:
        proxy.stop()
    # moto stores the part and the bot's comparison after completion refuses it; real S3 refuses the part (BadDigest)
    assert "CRC-32" in str(err.value) or "BadDigest" in str(err.value), err.value
    assert list_backups(ClusterBackups(settings.backup, cluster)) == []
    assert objects_of(world, cluster) == [], "the damaged object was deleted (or never completed)"
    assert list((world.root / "staging").glob(f"{cluster}-*")) == []


def test_abort_during_the_upload_discards_the_multipart_upload(backup_world: BackupWorld, tmp_path: Path) -> None:
    world = backup_world
    host, port = world.moto_url.removeprefix("http://").split(":")
    proxy = CuttingProxy((host, int(port))).start()
    cluster = "aborted-upload"
    settings = make_settings(world, tmp_path, {cluster: etcd_cluster(world, "s3", "file")}, s3_url=proxy.url)
    abort = threading.Event()
    bulk(world)
    proxy.hold(1024 * 1024)  # the transfer stalls mid-part: the Abort comes while it is in flight

    cancelling = threading.Event()

    class Cancelling(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("abort requested: cancelling the upload"):
                cancelling.set()

    def abort_when_held() -> None:
        if proxy.held.wait(60):
            abort.set()
            cancelling.wait(60)  # the bot has cancelled the transfer: the held part may go on now
            proxy.release()

    handler, logger = Cancelling(), logging.getLogger("bot.backup")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    helper = threading.Thread(target=abort_when_held, daemon=True)
    helper.start()
    try:
        with pytest.raises(AbortedError) as err:
            run_backup(settings.backup, cluster, kube=None, store=None, record_id="a", emit=[].append, abort=abort)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        proxy.release()
        proxy.stop()
        helper.join(5)
    assert proxy.held.is_set(), "the upload was in flight when Abort came"
    assert cancelling.is_set()
    assert "during the upload" in str(err.value)
    assert objects_of(world, cluster) == [], "no object and no open multipart upload (its parts are gone)"
    assert list_backups(ClusterBackups(settings.backup, cluster)) == []


@pytest.mark.parametrize("target", ["s3", "blob", "dir"])
def test_a_staged_file_changed_before_upload_is_refused(
    backup_world: BackupWorld, tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes sent must be the bytes staged (their CRC-32 is taken while writing): a staging
    volume that changed them is caught before anything is listed."""
    world = backup_world
    cluster = f"restaged-{target}"
    settings = make_settings(world, tmp_path, {cluster: etcd_cluster(world, target, "file")})
    original = pipeline.stage

    def stage_then_damage(*args: Any, **kwargs: Any) -> StagedBackup:
        staged = original(*args, **kwargs)
        with staged.path.open("r+b") as f:
            f.seek(staged.ciphertext_size // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x01]))
        return staged

    monkeypatch.setattr(pipeline, "stage", stage_then_damage)
    with pytest.raises(PermanentError) as err:
        take(settings, cluster)
    assert "CRC-32" in str(err.value), err.value
    assert list_backups(ClusterBackups(settings.backup, cluster)) == []
    if target == "s3":
        assert objects_of(world, cluster) == []
    if target == "dir":
        assert not (world.root / "backups" / cluster).exists() or not list((world.root / "backups" / cluster).iterdir())


@pytest.mark.parametrize(("size", "parts"), [(1024 * 1024, 1), (11 * 1024 * 1024 + 7, 3)])
def test_s3_target_compares_the_stored_crc32_for_one_request_and_for_parts(
    backup_world: BackupWorld, tmp_path: Path, size: int, parts: int
) -> None:
    """A file below the part size goes in one PutObject (CRC-32 of the object); above it, in parts of
    5 MiB with a shorter last one (CRC-32 of the part CRC-32s, ``-N``): both compared with S3's."""
    from bot.backup.storage_s3 import S3BackupTarget
    from bot.config.backup import S3Target

    world = backup_world
    local = tmp_path / "staged.enc"
    local.write_bytes(os.urandom(size))
    crc = zlib.crc32(local.read_bytes())
    cfg = S3Target(
        type="s3", bucket=BUCKET, region="us-east-1", prefix="etcd/", endpoint_url=world.moto_url, part_size_mb=5
    )
    target = S3BackupTarget("s3", cfg)
    seen: list[tuple[int, int, int]] = []
    check = target.upload(
        local, f"crc/{parts}.enc", {"a": "b"}, lambda *p: seen.append(p), threading.Event(), crc32=crc
    )
    assert check.startswith("S3 checked each part's CRC-32"), check
    head = world.s3().head_object(Bucket=BUCKET, Key=f"etcd/crc/{parts}.enc", ChecksumMode="ENABLED")
    assert head["ContentLength"] == size
    assert head["Metadata"] == {"a": "b"}
    assert seen[-1] == (size, parts, parts), "the last progress report is the whole file"
    assert raw_object(world, "s3", f"crc/{parts}.enc") == local.read_bytes()
    with pytest.raises(PermanentError, match="changed on disk"):
        target.upload(local, f"crc/{parts}-wrong.enc", {}, lambda *p: None, threading.Event(), crc32=crc ^ 1)
    assert not target.exists(f"crc/{parts}-wrong.enc"), "an object whose bytes are not the staged ones is deleted"


def test_the_wrong_key_fails_verification(backup_world: BackupWorld, tmp_path: Path) -> None:
    world = backup_world
    cluster = "wrong-key"
    clusters = {cluster: etcd_cluster(world, "dir", "file")}
    run = take(make_settings(world, tmp_path, clusters), cluster)
    assert run.outcome is not None
    other = tmp_path / "other.key"
    other.write_bytes(bytes(range(32)))
    wrong = make_settings(world, tmp_path, clusters, key_file=other)
    setup = ClusterBackups(wrong.backup, cluster)
    with pytest.raises(VerificationError) as err:
        verify(setup, run.outcome.manifest)
    assert run.outcome.manifest.key_id in str(err.value), "the error names the key the backup needs"
    assert not list((world.root / "staging").glob(".verify-*")), "no decrypted file left behind"


def test_retention_keeps_exactly_the_configured_set(backup_world: BackupWorld, tmp_path: Path) -> None:
    world = backup_world
    cluster = "retention"
    retention = {"keep_last": 2, "hourly": 3, "daily": 2, "weekly": 0}
    settings = make_settings(world, tmp_path, {cluster: etcd_cluster(world, "dir", "file", retention=retention)})
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    times = [
        t0 - timedelta(days=2),  # day -2
        t0 - timedelta(days=1, hours=3),  # day -1, 05:00
        t0 - timedelta(days=1),  # day -1, 08:00 (newest of day -1)
        t0 - timedelta(hours=3),  # today 05:00
        t0 - timedelta(hours=2, minutes=30),  # 05:30 (newest of the 05:00 hour)
        t0 - timedelta(hours=1),  # 07:00
        t0 - timedelta(minutes=30),  # 07:30 (newest of the 07:00 hour)
        t0,  # 08:00
    ]
    ids = []
    for at in times:
        run = take(settings, cluster, at=at)
        assert run.outcome is not None
        ids.append(run.outcome.manifest.id)
    kept = {b.id for b in list_backups(ClusterBackups(settings.backup, cluster))}
    # last 2: 08:00, 07:30 · hourly 3: 08:00, 07:30 (07h), 05:30 (05h) · daily 2: 08:00 (today), 08:00 day -1
    assert kept == {ids[7], ids[6], ids[4], ids[2]}
    stored = sorted(p.name for p in (world.root / "backups" / cluster).iterdir())
    assert len(stored) == 2 * len(kept), "data and manifest of the deleted backups are gone"


def test_abort_stops_the_stream_and_stores_nothing(backup_world: BackupWorld, tmp_path: Path) -> None:
    world = backup_world
    cluster = "aborted"
    settings = make_settings(world, tmp_path, {cluster: etcd_cluster(world, "dir", "file")})
    abort = threading.Event()

    def emit(line: str) -> None:
        if line.startswith("connected"):
            abort.set()

    with pytest.raises(AbortedError):
        run_backup(settings.backup, cluster, kube=None, store=None, record_id="a", emit=emit, abort=abort)
    assert list_backups(ClusterBackups(settings.backup, cluster)) == []
    assert list((world.root / "staging").glob(f"{cluster}-*")) == []


def test_a_failing_staging_disk_ends_the_snapshot_stream(
    backup_world: BackupWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staging volume fails mid-stream: the run fails with the disk's error, the reader thread
    and its gRPC stream end (no thread left reading from etcd), nothing is staged or listed."""
    world = backup_world
    cluster = "disk-full"
    settings = make_settings(world, tmp_path, {cluster: etcd_cluster(world, "dir", "file")})
    bulk(world)
    writes = 0
    original = EncryptingSink.write

    def write(self: EncryptingSink, data: bytes) -> int:
        nonlocal writes
        writes += 1
        if writes == 2:
            raise OSError(28, "No space left on device")
        return original(self, data)

    monkeypatch.setattr(EncryptingSink, "write", write)
    with pytest.raises(OSError, match="No space left"):
        take(settings, cluster)
    deadline = time.monotonic() + 10
    while any(t.name == "backup-read-ahead" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "backup-read-ahead" for t in threading.enumerate()), "the snapshot reader ended"
    assert list((world.root / "staging").glob(f"{cluster}-*")) == []
    assert list_backups(ClusterBackups(settings.backup, cluster)) == []


def test_manifest_is_what_lists_a_backup(backup_world: BackupWorld, tmp_path: Path) -> None:
    """Data without a manifest (an upload that died before the end) is never listed."""
    world = backup_world
    cluster = "orphan"
    settings = make_settings(world, tmp_path, {cluster: etcd_cluster(world, "dir", "file")})
    run = take(settings, cluster)
    assert run.outcome is not None
    m: BackupManifest = run.outcome.manifest
    (world.root / "backups" / cluster / f"{m.id}.manifest.json").unlink()
    assert list_backups(ClusterBackups(settings.backup, cluster)) == []


def test_operator_cli_lists_decrypts_a_copied_object_and_explains_a_wrong_key(
    backup_world: BackupWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from bot.cli import main

    world = backup_world
    cluster = "cli"
    clusters = {cluster: etcd_cluster(world, "dir", "file")}
    doc = settings_doc(world, tmp_path / "unused-kubeconfig", f"sqlite:///{tmp_path / 'store.db'}", clusters)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    run = take(Settings(**doc), cluster)
    assert run.outcome is not None
    m = run.outcome.manifest

    assert main(["--config", str(cfg), "backup", "list", "--cluster", cluster]) == 0
    assert m.id in capsys.readouterr().out
    copied = tmp_path / "copied.db.enc"
    copied.write_bytes(raw_object(world, "dir", m.object_name))  # e.g. fetched with `aws s3 cp`
    out = tmp_path / "plain.db"
    assert main(["--config", str(cfg), "backup", "decrypt", str(copied), "-o", str(out), "--cluster", cluster]) == 0
    assert out.stat().st_size == m.plaintext_size
    assert out.stat().st_mode & 0o777 == 0o600

    other = tmp_path / "other.key"
    other.write_bytes(bytes(32))
    doc["backup"]["keys"]["file"]["path"] = str(other)
    cfg.write_text(yaml.safe_dump(doc))
    capsys.readouterr()
    assert main(["--config", str(cfg), "backup", "fetch", m.id, "--decrypt", "-o", str(tmp_path / "x.db")]) == 1
    err = capsys.readouterr().err
    assert f"this backup was encrypted with {m.key_id}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.db").exists()
    assert not (tmp_path / "x.db.part").exists()
