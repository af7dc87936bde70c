"""The report of a finished backup: size, throughput, location, key id, checks, retention."""

from __future__ import annotations

from bot.backup.runner import BackupRun
from bot.backup.setup import human_bytes
from bot.report import Report, Tone


def backup_report(cluster: str, run: BackupRun) -> Report:
    """The summary of a finished backup: size, throughput, location, key id (and retention)."""
    if run.velero is not None:
        v = run.velero
        report = Report(title=f"Velero Backup {v.name} created", tone=Tone.OK, summary=run.choice.why)
        report.section().fields = [("Backup", f"{v.namespace}/{v.name}"), ("Phase", v.phase)]
        report.section().lines.append(
            f"Velero runs it; follow it with `velero backup describe {v.name} -n {v.namespace}`"
        )
        return report
    assert run.outcome is not None
    o, m = run.outcome, run.outcome.manifest
    what = "etcd snapshot" if m.kind == "etcd-snapshot" else "API export"
    # The title is the run's outcome line (the run message and its thread show it): the whole summary.
    title = (
        f"Backup {m.id} stored and verified: {human_bytes(m.plaintext_size)} in {o.seconds:.1f}s "
        f"({human_bytes(o.throughput)}/s) to {m.location}, key {m.key_provider} {m.key_id}"
    )
    if o.deleted:
        title += f"; retention deleted {len(o.deleted)} older backup(s)"
    report = Report(title=title, tone=Tone.OK, summary=f"{what} of cluster {cluster}")
    fields = [
        ("Size", f"{human_bytes(m.plaintext_size)} ({human_bytes(m.ciphertext_size)} encrypted)"),
        ("Throughput", f"{human_bytes(o.throughput)}/s over {o.seconds:.1f}s"),
        ("Location", m.location),
        ("Key", f"{m.key_provider} {m.key_id}"),
    ]
    if m.revision is not None:
        fields.insert(0, ("Revision", f"{m.revision} (member {m.member_id})"))
    if m.resources is not None:
        fields.insert(0, ("Objects", str(m.resources)))
    report.section().fields = fields
    checks = report.section("Checks")
    if m.kind == "etcd-snapshot":
        checks.lines.append("snapshot size and SHA-256 trailer valid (as etcdctl checks them)")
    checks.lines += [m.storage_check, f"plaintext SHA-256 {m.plaintext_sha256}"]
    if m.skipped:
        skipped = report.section("Not exported", tone=Tone.WARN)
        skipped.lines = m.skipped
        report.tone = Tone.WARN
    if o.retention_error:
        report.section("Retention failed", tone=Tone.WARN).lines.append(o.retention_error)
    elif o.deleted:
        report.section("Retention deleted").lines = list(o.deleted)
    report.context.append(f"restore: /k8s etcd-restore {m.id}")
    return report
