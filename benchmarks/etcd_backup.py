"""etcd-backup benchmark (DESIGN §9): memory stays flat, throughput close to ``etcdctl snapshot save`` + upload.

For a 64 MB and a 512 MB etcd database (a real etcd with client TLS, filled with random values):

- **the bot**: ``run_backup`` in its own process, with the container image's ``MALLOC_ARENA_MAX`` (read
  from the Dockerfile) — stream ``Maintenance.Snapshot`` → etcd trailer check → AES-256-GCM (KMS data
  key) → S3 multipart upload → CRC-32 checks → manifest. Its peak RSS (``VmHWM``) is compared with its
  RSS just before the backup (idle: everything imported and connected).
- **the reference**: ``etcdctl snapshot save`` to a file, then a boto3 ``upload_file`` of that file
  (boto3's default TransferConfig: 8 MB parts, 10 threads) — no encryption, no checks.

S3 and KMS are moto in server mode in a separate process on 127.0.0.1. Each measurement runs three times,
alternating bot and reference; the best of each is compared. Goals: peak RSS − idle ≤ 64 MB and
flat across sizes; bot throughput ≥ 80% of the reference. Run: ``python -m benchmarks.etcd_backup``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3

from tests.harness.binaries import ensure_binaries
from tests.harness.control_plane import free_port
from tests.harness.etcd_server import EtcdServer
from tests.harness.etcdctl import ensure_etcdctl

REGION = "us-east-1"
BUCKET = "bench"
MB = 1024 * 1024
VALUE = 512 * 1024


def rss_kb(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(config_path: str) -> None:
    """Run one backup in this process and print timings and memory as JSON (``--worker``)."""
    from bot.backup.runner import run_backup
    from bot.backup.setup import ClusterBackups
    from bot.config.settings import Settings

    cfg = json.loads(Path(config_path).read_text())
    settings = Settings(**cfg["settings"])
    setup = ClusterBackups(settings.backup, "bench")
    setup.target()  # connect: part of idle, like a running bot
    setup.key()
    from bot.backup.etcd_client import etcd_proto

    etcd_proto()
    idle = rss_kb("VmRSS")
    began = time.monotonic()
    run = run_backup(
        settings.backup,
        "bench",
        kube=None,
        store=None,
        record_id="bench",
        emit=lambda _l: None,
        abort=threading.Event(),
    )
    seconds = time.monotonic() - began
    assert run.outcome is not None
    m = run.outcome.manifest
    print(
        json.dumps(
            {
                "seconds": seconds,
                "stream_seconds": run.outcome.stream_seconds,
                "upload_seconds": run.outcome.upload_seconds,
                "bytes": m.plaintext_size,
                "idle_kb": idle,
                "peak_kb": rss_kb("VmHWM"),
                "object": m.object_name,
            }
        )
    )


def fill(etcd: EtcdServer, target_mb: int) -> int:
    """Put random 512 KiB values until the database is ``target_mb``; returns its size in bytes."""
    size = 0
    i = 0
    while size < target_mb * MB:
        for _ in range(16):
            etcd.put(f"/bench/{i:08d}", os.urandom(VALUE))
            i += 1
        _status, doc = etcd.request("/v3/maintenance/status", {})
        size = int(doc["dbSize"])
    return size


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto in server mode, in its own process on 127.0.0.1, keeping objects in memory.

    moto spills every object above 5 MiB to temporary files; on this machine's disk that made the
    upload half of both the bot's and the reference's runs vary by 2×. S3's disks are not this
    machine's: objects stay in moto's memory (the staging file and etcd's data stay on disk).
    """
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(2 * 1024 * MB)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            boto3.client("s3", region_name=REGION, endpoint_url=url).list_buckets()
            return proc, url
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto did not start")


def image_env() -> dict[str, str]:
    """The allocator setting the Dockerfile gives the bot (``MALLOC_ARENA_MAX``)."""
    found = re.search(r"MALLOC_ARENA_MAX=(\d+)", (Path(__file__).parents[1] / "Dockerfile").read_text())
    if found is None:
        raise RuntimeError("the Dockerfile sets no MALLOC_ARENA_MAX: update the benchmark with it")
    return {"MALLOC_ARENA_MAX": found.group(1)}


def bot_run(config: dict[str, Any], work: Path) -> dict[str, Any]:
    """One backup by the bot, in a fresh process with the image's environment."""
    path = work / "worker.json"
    path.write_text(json.dumps(config))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.etcd_backup", "--worker", str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **image_env()},
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def reference_run(etcdctl: Path, etcd: EtcdServer, moto: str, work: Path, key: str) -> float:
    """``etcdctl snapshot save`` then boto3 ``upload_file``; wall seconds of both."""
    snap = work / "ref.db"
    snap.unlink(missing_ok=True)
    began = time.monotonic()
    subprocess.run(
        [
            str(etcdctl),
            f"--endpoints={etcd.endpoint}",
            f"--cacert={etcd.ca_file}",
            f"--cert={etcd.cert_file}",
            f"--key={etcd.key_file}",
            "snapshot",
            "save",
            str(snap),
        ],
        check=True,
        capture_output=True,
    )
    upload = (
        "import boto3,sys; boto3.client('s3', region_name=sys.argv[1], endpoint_url=sys.argv[2])"
        ".upload_file(sys.argv[3], sys.argv[4], sys.argv[5])"
    )
    subprocess.run([sys.executable, "-c", upload, REGION, moto, str(snap), BUCKET, key], check=True)
    seconds = time.monotonic() - began
    snap.unlink()
    return seconds


def main() -> None:
    """Run the benchmark and print the figures and ratios."""
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
        return
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
    bins, etcdctl = ensure_binaries(), ensure_etcdctl()
    moto_proc, moto = start_moto()
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto)
    s3.create_bucket(Bucket=BUCKET)
    kms_key = boto3.client("kms", region_name=REGION, endpoint_url=moto).create_key()["KeyMetadata"]["KeyId"]
    rows = []
    try:
        for target_mb in (64, 512):
            with tempfile.TemporaryDirectory(prefix="etcd-backup-bench-") as tmp:
                work = Path(tmp)
                etcd = EtcdServer(bins, work / "etcd").start(extra=["--quota-backend-bytes=4294967296"])
                try:
                    db = fill(etcd, target_mb)
                    config = {
                        "settings": {
                            "clusters": {"bench": {}},
                            "backup": {
                                "staging_dir": str(work / "staging"),
                                "targets": {
                                    "s3": {"type": "s3", "bucket": BUCKET, "region": REGION, "endpoint_url": moto}
                                },
                                "keys": {
                                    "kms": {
                                        "type": "aws_kms",
                                        "key_id": kms_key,
                                        "region": REGION,
                                        "endpoint_url": moto,
                                    }
                                },
                                "clusters": {
                                    "bench": {
                                        "target": "s3",
                                        "key": "kms",
                                        "retention": {"keep_last": 0, "hourly": 0, "daily": 0, "weekly": 0},
                                        "etcd": {
                                            "endpoints": [etcd.endpoint],
                                            "ca_file": str(etcd.ca_file),
                                            "cert_file": str(etcd.cert_file),
                                            "key_file": str(etcd.key_file),
                                        },
                                    }
                                },
                            },
                        }
                    }
                    bots, refs = [], []
                    for rep in range(3):
                        bots.append(bot_run(config, work))
                        refs.append(reference_run(etcdctl, etcd, moto, work, f"ref/{target_mb}-{rep}.db"))
                        _empty_bucket(s3)
                finally:
                    etcd.stop()
            best = min(bots, key=lambda r: r["seconds"])
            ref = min(refs)
            peak_above = max(r["peak_kb"] - r["idle_kb"] for r in bots) / 1024
            rows.append((target_mb, db, best, ref, peak_above))
            print(
                f"{target_mb:>4} MB db ({db / MB:.0f} MiB snapshot): bot {best['seconds']:.2f}s "
                f"(stream+encrypt {best['stream_seconds']:.2f}s, upload {best['upload_seconds']:.2f}s, "
                f"{best['bytes'] / MB / best['seconds']:.1f} MiB/s) vs etcdctl save + boto3 upload {ref:.2f}s "
                f"({db / MB / ref:.1f} MiB/s) -> throughput ratio {ref / best['seconds']:.2f}; "
                f"RSS idle {best['idle_kb'] / 1024:.0f} MiB, peak {best['peak_kb'] / 1024:.0f} MiB, "
                f"peak above idle {peak_above:.1f} MiB",
                flush=True,
            )
    finally:
        moto_proc.terminate()
        moto_proc.wait(timeout=30)
    small, large = rows[0], rows[1]
    print(
        f"\nsummary: peak RSS above idle {small[4]:.1f} MiB (64 MB) / {large[4]:.1f} MiB (512 MB) — goal ≤ 64 MiB, "
        "flat; "
        f"throughput ratio {small[3] / small[2]['seconds']:.2f} / {large[3] / large[2]['seconds']:.2f} — goal ≥ 0.80"
    )


def _empty_bucket(s3: Any) -> None:
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents") or []:
        s3.delete_object(Bucket=BUCKET, Key=obj["Key"])


if __name__ == "__main__":
    main()
