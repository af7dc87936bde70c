"""``backup.etcd``: take a backup of the cluster — an etcd snapshot, an API export, or a Velero Backup."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.backup.runner import choose_mode, run_backup
from bot.backup.setup import ClusterBackups
from bot.backup.summary import backup_report
from bot.config.backup import BackupSettings
from bot.errors import UserError
from bot.model import Permission
from bot.report import Report
from bot.steps.base import Step, StepContext, StepPlan

GROUP = "runbook-bot.io"
RESOURCE = "etcdbackups"
CREATE = Permission(verb="create", resource=RESOURCE, group=GROUP)


class BackupParams(BaseModel):
    """Where to (default: the cluster's target)."""

    model_config = ConfigDict(extra="forbid")
    to: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="the backup target (a name under backup.targets); default: the cluster's",
    )


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
