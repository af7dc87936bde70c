"""``runbook-bot backup ...``: the operator's commands, for the night the cluster is gone.

They use the bot's configuration and credentials (cloud, key, etcd certificate) — run them where
those are available (the bot's pod, or an admin machine with the same config and access):

- ``list [--cluster C] [--target T]`` — complete, verified backups, newest first
- ``fetch ID [-o FILE] [--decrypt]`` — download (and decrypt) one backup; both SHA-256s checked
- ``verify ID [--etcdutl PATH]`` — download, decrypt, check, ``etcdutl snapshot status``
- ``decrypt FILE -o OUT`` — decrypt a backup copied by other means (``aws s3 cp``, ``az storage``)
- ``checklist ID [--layout L]`` — the restore checklist (what ``/k8s etcd-restore ID`` prints)
- ``create [--cluster C] [--to T]`` — take a backup now, as the bot (e.g. from a CronJob)
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from bot.backup.envelope import EnvelopeError, decrypt_stream
from bot.backup.keys import WrongKeyError
from bot.backup.manifest import BackupManifest, parse_backup_id
from bot.backup.pipeline import find_backup, list_backups
from bot.backup.readback import fetch, verify
from bot.backup.restore import LAYOUTS, restore_checklist
from bot.backup.runner import run_backup
from bot.backup.setup import ClusterBackups, human_bytes
from bot.backup.summary import backup_report
from bot.clients.kube import KubeClients
from bot.config.settings import Settings
from bot.errors import BotError, UserError


def add_backup_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``backup`` and its sub-commands on the main parser."""
    p = sub.add_parser("backup", help="list, fetch, verify, decrypt etcd backups; print a restore checklist")
    bsub = p.add_subparsers(dest="backup_cmd", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--cluster", help="cluster (default: from the backup id, else default_cluster)")
        q.add_argument("--target", help="backup target name (default: the cluster's)")

    common(bsub.add_parser("list", help="complete, verified backups, newest first"))
    f = bsub.add_parser("fetch", help="download one backup (decrypted with --decrypt)")
    f.add_argument("id")
    f.add_argument("--decrypt", action="store_true", help="decrypt (else: the encrypted object as stored)")
    f.add_argument("-o", "--output", type=Path, help="output file (default: <id>.db or <id>.db.enc)")
    f.add_argument("--force", action="store_true", help="overwrite an existing output file")
    common(f)
    v = bsub.add_parser("verify", help="download, decrypt and check one backup")
    v.add_argument("id")
    v.add_argument("--etcdutl", help="etcdutl binary (default: from PATH)")
    common(v)
    d = bsub.add_parser("decrypt", help="decrypt a backup file copied by other means")
    d.add_argument("file", type=Path)
    d.add_argument("-o", "--output", type=Path, required=True)
    d.add_argument("--cluster", help="cluster whose keys to use (default: default_cluster)")
    c = bsub.add_parser("checklist", help="print the restore checklist of one backup")
    c.add_argument("id")
    c.add_argument("--layout", choices=sorted(LAYOUTS), help="default: the cluster's backup.clusters.*.etcd.layout")
    common(c)
    n = bsub.add_parser("create", help="take a backup now, as the bot")
    n.add_argument("--cluster")
    n.add_argument("--to", help="target name (default: the cluster's)")


def run_backup_cli(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``backup`` sub-command; errors are printed (never a trace), exit 1."""
    try:
        return _dispatch(args, settings)
    except (BotError, ValueError) as exc:
        message = exc.message if isinstance(exc, UserError) else str(exc)
        hint = getattr(exc, "hint", None)
        print(f"error: {message}" + (f"\n  {hint}" if hint else ""), file=sys.stderr)
        return 1


def _cluster(args: argparse.Namespace, settings: Settings) -> str:
    if getattr(args, "cluster", None):
        return str(args.cluster)
    ident = getattr(args, "id", None)
    if ident:
        return parse_backup_id(ident)[0]
    assert settings.default_cluster is not None
    return settings.default_cluster


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    cmd = args.backup_cmd
    cluster = _cluster(args, settings)
    setup = ClusterBackups(settings.backup, cluster)
    if cmd == "list":
        backups = list_backups(setup, args.target)
        for m in backups:
            what = f"etcd r{m.revision}" if m.kind == "etcd-snapshot" else f"API export ({m.resources} objects)"
            print(f"{m.id}  {m.created_at:%Y-%m-%d %H:%M}Z  {what}  {human_bytes(m.plaintext_size)}  {m.location}")
        print(f"{len(backups)} backup(s) of {cluster} on {setup.target_name(args.target)}", file=sys.stderr)
        return 0
    if cmd == "decrypt":
        return _decrypt_file(setup, args.file, args.output)
    if cmd == "create":
        return _create(args, settings, cluster)
    manifest = find_backup(setup, args.id, args.target)
    if cmd == "checklist":
        return _checklist(args, setup, manifest)
    if cmd == "verify":
        result = verify(setup, manifest, etcdutl=args.etcdutl)
        print(f"backup {manifest.id} verified:")
        for line in result.checks:
            print(f"  ok  {line}")
        return 0
    return _fetch(args, setup, manifest)


def _create(args: argparse.Namespace, settings: Settings, cluster: str) -> int:
    """``backup create``: one backup now, with the bot's credentials."""
    kube = KubeClients(settings)
    try:
        run = run_backup(
            settings.backup,
            cluster,
            kube=kube.access(cluster, None),
            store=None,
            record_id=f"cli-{cluster}",
            emit=lambda line: print(line, file=sys.stderr),
            abort=threading.Event(),
            target=args.to,
        )
    finally:
        kube.close()
    report = backup_report(cluster, run)
    print(report.title)
    for part in report.parts:
        for key, value in getattr(part, "fields", []):
            print(f"  {key}: {value}")
    return 0


def _checklist(args: argparse.Namespace, setup: ClusterBackups, manifest: BackupManifest) -> int:
    """``backup checklist``: the restore checklist for this backup and the cluster's layout."""
    layout = args.layout or (setup.cfg.etcd.layout if setup.cfg.etcd else "other")
    print(f"# Restore {manifest.id} ({LAYOUTS[layout].name}) — revision {manifest.revision}, {manifest.location}")
    for step in restore_checklist(manifest, layout):
        print(f"\n{step.title}")
        for line in step.text():
            print(f"    {line}")
    return 0


def _fetch(args: argparse.Namespace, setup: ClusterBackups, manifest: BackupManifest) -> int:
    """``backup fetch``: download (and with --decrypt, decrypt) a backup, checking both sha256s."""
    suffix = ".db" if manifest.kind == "etcd-snapshot" else ".tar"
    output: Path = args.output or Path(manifest.id + suffix + ("" if args.decrypt else ".enc"))
    if output.exists() and not args.force:
        raise UserError(f"{output} exists", hint="choose another -o, or --force to overwrite")
    result = fetch(setup, manifest, output, decrypt=args.decrypt)
    for line in result.checks:
        print(f"  ok  {line}", file=sys.stderr)
    print(output)
    return 0


def _decrypt_file(setup: ClusterBackups, source: Path, output: Path) -> int:
    part = output.with_name(output.name + ".part")
    try:
        with source.open("rb") as src, part.open("wb") as dst:
            part.chmod(0o600)
            header = decrypt_stream(src, dst, setup.unwrap)
        part.replace(output)
    except (EnvelopeError, WrongKeyError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise UserError(f"cannot decrypt {source}: {exc}") from None
    print(f"decrypted {header.content} ({header.key.provider} {header.key.key_id}) to {output}", file=sys.stderr)
    print(output)
    return 0
