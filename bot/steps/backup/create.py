"""``backup.etcd``: take a backup of the cluster — an etcd snapshot, an API export, or a Velero Backup."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.backup.runner import BackupRun, choose_mode, run_backup
from bot.backup.setup import ClusterBackups, human_bytes
from bot.config.backup import BackupSettings
from bot.errors import UserError
from bot.model import Permission
from bot.report import Report, Tone
from bot.steps.base import Step, StepContext, StepPlan

GROUP = "runbook-bot.io"
RESOURCE = "etcdbackups"
CREATE = Permission(verb="create", resource=RESOURCE, group=GROUP)


class BackupParams(BaseModel):
    """Where to (default: the cluster's target)."""

    model_config = ConfigDict(extra="forbid")
    to: str | None = Field(None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def backup_settings(ctx: StepContext) -> BackupSettings:
    """The ``backup:`` settings (a UserError when the bot was built without settings)."""
    if ctx.settings is None:
        raise UserError("backups are not configured on this bot")
    return ctx.settings.backup


def secret_permission(setup: ClusterBackups) -> list[Permission]:
    """``get secrets <name>`` when the etcd client certificate is read from a Secret (as the requester)."""
    etcd = setup.cfg.etcd
    if etcd is None or etcd.secret is None:
        return []
    ref = etcd.secret
    return [Permission(verb="get", resource="secrets", namespace=ref.namespace, name=ref.name)]


class EtcdBackup(Step[BackupParams]):
    """Back the cluster up: stream, check, encrypt, upload, verify, list, apply retention."""

    name = "backup.etcd"
    Params = BackupParams
    summary = "take an encrypted, verified backup of the cluster (etcd snapshot, API export or Velero)"

    def static_permissions(self, params: BackupParams | None) -> list[Permission]:
        return [CREATE]

    def plan(self, ctx: StepContext, params: BackupParams) -> StepPlan:
        setup = ClusterBackups(backup_settings(ctx), ctx.cluster)
        choice = choose_mode(setup, ctx.kube)
        perms = [CREATE]
        details = [f"mode: {choice.mode} — {choice.why}"]
        if choice.mode == "velero":
            velero = setup.cfg.velero
            perms.append(Permission(verb="create", resource="backups", group="velero.io", namespace=velero.namespace))
            details.append(f"creates a velero.io/v1 Backup in namespace {velero.namespace} (TTL {velero.ttl}), as you")
            desc = f"ask Velero to back up cluster {ctx.cluster}"
        else:
            details.append(f"target {setup.describe_target(params.to)}")
            details.append(f"encrypted (AES-256-GCM, fresh data key) with {setup.describe_key()}")
            r = setup.cfg.retention
            details.append(
                f"then retention keeps the newest {r.keep_last}, {r.hourly} hourly, {r.daily} daily, {r.weekly} weekly"
            )
            if choice.mode == "etcd":
                assert setup.cfg.etcd is not None
                perms += secret_permission(setup)
                details.insert(1, f"snapshot of one etcd member of {', '.join(setup.cfg.etcd.endpoints)}")
                desc = f"back up etcd of cluster {ctx.cluster} to {setup.target_name(params.to)}"
            else:
                details.insert(1, "objects are listed as you: resources you may not list are skipped and named")
                desc = f"export every API object of cluster {ctx.cluster} to {setup.target_name(params.to)}"
        return StepPlan(
            description=desc,
            permissions=perms,
            details=details,
            fingerprint={"mode": choice.mode, "target": params.to or setup.cfg.target},
            mutates=True,
        )

    def run(self, ctx: StepContext, params: BackupParams) -> Report:
        run = run_backup(
            backup_settings(ctx),
            ctx.cluster,
            kube=ctx.kube,
            store=ctx.store,
            record_id=f"{ctx.cluster}-{ctx.run_id}",
            emit=ctx.progress,
            abort=ctx.abort,
            target=params.to,
        )
        return backup_report(ctx.cluster, run)


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
    report = Report(title=f"Backup {m.id} stored and verified", tone=Tone.OK, summary=f"{what} of cluster {cluster}")
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
