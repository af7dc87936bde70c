"""The backup format and the pure parts of etcd-backup: envelope, etcd's trailer check, retention, settings."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.backup.envelope import EnvelopeError, EnvelopeWriter, WrappedKey, decrypt_stream, read_header
from bot.backup.keys import KeyFileProvider, WrongKeyError
from bot.backup.manifest import BackupManifest, backup_id, parse_backup_id
from bot.backup.restore import LAYOUTS, restore_checklist
from bot.backup.retention import keep_set
from bot.backup.staging import CorruptSnapshotError, TrailerCheck, feed
from bot.config.backup import KeyFileKey, RetentionSettings
from bot.config.loader import load_settings
from bot.errors import AbortedError, ConfigError, TemporaryError

KEY = os.urandom(32)
WRAPPED = WrappedKey("key-file", "key-file:test", b"wrapped", {"k8s-runbook-bot/cluster": "c"})


def seal(data: bytes, chunk: int = 1024) -> bytes:
    out = io.BytesIO()
    w = EnvelopeWriter(out, KEY, WRAPPED, content="etcd-snapshot", chunk_size=chunk)
    for i in range(0, len(data), 700):
        w.write(data[i : i + 700])
    w.close()
    assert w.sha256 == hashlib.sha256(out.getvalue()).hexdigest()
    return out.getvalue()


def unseal(blob: bytes) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, lambda key: KEY)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 3 * 1024, 5000])
def test_envelope_round_trips_any_size(size: int) -> None:
    data = os.urandom(size)
    blob = seal(data)
    assert unseal(blob) == data
    assert data[:64] not in blob or size < 16


def test_envelope_header_says_how_to_unwrap_and_nothing_secret() -> None:
    blob = seal(b"x" * 10)
    header = read_header(io.BytesIO(blob))
    assert header.key == WRAPPED
    assert header.content == "etcd-snapshot"
    assert header.chunk_size == 1024
    assert KEY not in blob


def chunks_of(blob: bytes, chunk: int = 1024) -> tuple[bytes, list[bytes]]:
    header = read_header(io.BytesIO(blob))
    body = blob[len(header.raw) :]
    step = chunk + 16
    return header.raw, [body[i : i + step] for i in range(0, len(body), step)]


@pytest.mark.parametrize(
    "damage",
    ["flip a byte", "truncate the tail", "drop the last chunk", "swap two chunks", "edit the header", "wrong key"],
)
def test_envelope_detects_tampering(damage: str) -> None:
    blob = seal(os.urandom(4 * 1024))  # exactly 4 full chunks: the last one is full too
    header, chunks = chunks_of(blob)
    key = KEY
    if damage == "flip a byte":
        bad = bytearray(blob)
        bad[len(header) + 1500] ^= 0x80
        blob = bytes(bad)
    elif damage == "truncate the tail":
        blob = blob[:-10]
    elif damage == "drop the last chunk":  # truncation exactly at a chunk boundary
        blob = header + b"".join(chunks[:-1])
    elif damage == "swap two chunks":
        blob = header + chunks[1] + chunks[0] + b"".join(chunks[2:])
    elif damage == "edit the header":
        blob = blob.replace(b'"etcd-snapshot"', b'"api-export!!"', 1)
    else:
        key = os.urandom(32)
    with pytest.raises(EnvelopeError):
        decrypt_stream(io.BytesIO(blob), io.BytesIO(), lambda _k: key)


def snapshot_like(pages: int) -> bytes:
    body = os.urandom(512 * pages)
    return body + hashlib.sha256(body).digest()


def check(data: bytes, piece: int = 333) -> None:
    t = TrailerCheck()
    for i in range(0, len(data), piece):
        t.update(data[i : i + piece])
    t.verify()


def test_trailer_check_accepts_a_valid_snapshot_in_any_pieces() -> None:
    data = snapshot_like(9)
    for piece in (1, 31, 32, 33, 512, 4096):
        check(data, piece)


def test_trailer_check_refuses_a_flipped_byte_and_a_truncated_tail() -> None:
    data = bytearray(snapshot_like(4))
    data[700] ^= 1
    with pytest.raises(CorruptSnapshotError, match="does not match"):
        check(bytes(data))
    with pytest.raises(CorruptSnapshotError, match=r"512·n \+ 32"):
        check(snapshot_like(4)[:-1])
    good = snapshot_like(4)
    with pytest.raises(CorruptSnapshotError, match="does not match"):
        check(good[:-512])  # cut by a whole page: the size still looks right, the hash does not


class Sink:
    """Stands in for the encrypting sink in ``feed``: keeps what it got, or fails on a given write."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.got = bytearray()
        self.writes = 0
        self.fail_at = fail_at

    def write(self, data: bytes) -> int:
        self.writes += 1
        if self.writes == self.fail_at:
            raise OSError(28, "No space left on device")
        self.got += data
        return len(data)


def test_feed_hands_over_every_byte_in_order_in_batches() -> None:
    chunks = [os.urandom(32 * 1024) for _ in range(100)] + [b"tail"]
    sink, seen = Sink(), []
    feed(sink, iter(chunks), threading.Event(), seen.append)
    assert bytes(sink.got) == b"".join(chunks)
    assert sink.writes < len(chunks), "32 KiB messages are handed over in ~1 MiB batches"
    assert seen[-1] == len(sink.got)


def test_feed_raises_the_streams_error_and_a_failing_write_stops_the_stream() -> None:
    def broken() -> Iterator[bytes]:
        yield os.urandom(2 * 1024 * 1024)
        raise TemporaryError("etcd Snapshot at https://127.0.0.1:1 failed: UNAVAILABLE")

    with pytest.raises(TemporaryError, match="UNAVAILABLE"):
        feed(Sink(), broken(), threading.Event(), lambda _n: None)

    closed = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield os.urandom(32 * 1024)
        finally:
            closed.set()  # the snapshot generator's cleanup cancels the gRPC call

    with pytest.raises(OSError, match="No space left"):
        feed(Sink(fail_at=3), endless(), threading.Event(), lambda _n: None)
    assert closed.wait(5), "the stream was closed once the writing side failed"


def test_feed_stops_on_abort() -> None:
    abort = threading.Event()
    abort.set()
    chunks = iter([os.urandom(2 * 1024 * 1024)])
    with pytest.raises(AbortedError, match="nothing was stored"):
        feed(Sink(), chunks, abort, lambda _n: None)


def manifest(at: datetime) -> BackupManifest:
    ident = backup_id("c", at, 7)
    return BackupManifest(
        id=ident,
        cluster="c",
        kind="etcd-snapshot",
        created_at=at,
        target="t",
        location="x",
        object_name="x",
        plaintext_size=1,
        plaintext_sha256="0",
        ciphertext_size=1,
        ciphertext_sha256="0",
        key_provider="key-file",
        key_id="k",
        storage_check="ok",
    )


def test_retention_keeps_last_and_the_newest_of_each_bucket() -> None:
    now = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)  # a Wednesday
    backups = [manifest(now - timedelta(hours=h)) for h in range(0, 24 * 20, 6)]  # every 6h for 20 days
    kept = keep_set(backups, RetentionSettings(keep_last=1, hourly=0, daily=3, weekly=2))
    newest = {m.created_at: m.id for m in backups}
    expected = {
        newest[now]: ["last", "daily", "weekly"],
        newest[now.replace(hour=18) - timedelta(days=1)]: ["daily"],
        newest[now.replace(hour=18) - timedelta(days=2)]: ["daily"],
        newest[datetime(2026, 3, 8, 18, tzinfo=UTC)]: ["weekly"],  # Sunday: newest of the previous ISO week
    }
    assert kept == expected


def test_retention_buckets_follow_the_time_zone() -> None:
    a = manifest(datetime(2026, 3, 1, 22, 30, tzinfo=UTC))  # 23:30 in Madrid, 1 March
    b = manifest(datetime(2026, 3, 1, 23, 30, tzinfo=UTC))  # 00:30 in Madrid, 2 March
    policy = RetentionSettings(keep_last=0, daily=2, weekly=0)
    assert set(keep_set([a, b], policy, "UTC")) == {b.id}
    assert set(keep_set([a, b], policy, "Europe/Madrid")) == {a.id, b.id}


def test_retention_all_zero_keeps_everything() -> None:
    backups = [manifest(datetime(2026, 1, d, tzinfo=UTC)) for d in range(1, 9)]
    assert len(keep_set(backups, RetentionSettings(keep_last=0, hourly=0, daily=0, weekly=0))) == 8


def test_backup_ids_round_trip() -> None:
    at = datetime(2026, 3, 1, 2, 0, 5, tzinfo=UTC)
    assert backup_id("prod-eu", at, 42) == "prod-eu-20260301T020005Z-r42"
    assert parse_backup_id("prod-eu-20260301T020005Z-r42") == ("prod-eu", at)
    assert parse_backup_id("prod-20260301T020005Z-api")[0] == "prod"
    with pytest.raises(ValueError, match="not a backup id"):
        parse_backup_id("prod-latest")


def test_key_file_refuses_another_key_naming_both(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(os.urandom(32))
    (tmp_path / "b").write_text(os.urandom(32).hex())
    a = KeyFileProvider(KeyFileKey(type="key_file", path=tmp_path / "a"))
    b = KeyFileProvider(KeyFileKey(type="key_file", path=tmp_path / "b"))
    dk, wrapped = a.new_data_key({"c": "1"})
    assert a.unwrap(wrapped) == dk
    with pytest.raises(WrongKeyError) as err:
        b.unwrap(wrapped)
    assert a.key_id in str(err.value)
    assert b.key_id in str(err.value)


def test_check_config_reports_bad_backup_settings_with_file_and_line(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"too short")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "clusters:\n"
        "  prod: {}\n"
        "backup:\n"
        "  targets:\n"
        "    s3: {type: s3, bucket: b, region: eu-west-1, part_size_mb: 2}\n"
        "  keys:\n"
        f"    file: {{type: key_file, path: {short}}}\n"
        "  clusters:\n"
        "    prod:\n"
        "      target: s3\n"
        "      key: file\n"
        "      schedule: {cron: '61 * * * *'}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    text = str(err.value)
    assert f"{cfg}:5 [backup.targets.s3.s3.part_size_mb]" in text
    assert f"{cfg}:7 [backup.keys.file.key_file]" in text
    assert "256-bit key" in text
    assert "too short" not in text
    assert f"{cfg}:12 [backup.clusters.prod.schedule]" in text
    assert "cron" in text


def test_unknown_target_and_cluster_are_config_errors(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_bytes(os.urandom(32))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "clusters:\n  prod: {}\nbackup:\n  keys:\n"
        f"    file: {{type: key_file, path: {key}}}\n"
        "  clusters:\n    prod: {target: nowhere, key: file}\n    ghost: {target: nowhere, key: file}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "unknown target 'nowhere'" in str(err.value)


def test_restore_checklist_names_the_backup_and_the_layout_paths() -> None:
    m = manifest(datetime(2026, 3, 1, tzinfo=UTC))
    for layout, data_dir in (("kubeadm", "/var/lib/etcd"), ("aks-engine", "/var/lib/etcddisk")):
        text = "\n".join(line for step in restore_checklist(m, layout) for line in [step.title, *step.text()])
        assert f"runbook-bot backup fetch {m.id} --cluster c --decrypt -o snapshot.db" in text
        assert "--bump-revision 1000000000 --mark-compacted" in text
        assert f"mv {data_dir} {data_dir}.before-{m.id}" in text
        assert LAYOUTS[layout].stop[0] in text
