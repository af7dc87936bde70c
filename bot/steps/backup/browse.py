"""``backup.list``, ``backup.verify`` and ``backup.restore_checklist``: read-only views of stored backups."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from bot.backup.manifest import parse_backup_id
from bot.backup.pipeline import find_backup, list_backups
from bot.backup.readback import verify
from bot.backup.restore import restore_checklist
from bot.backup.setup import ClusterBackups, human_bytes
from bot.errors import UserError
from bot.model import Permission
from bot.report import Report, Tone
from bot.steps.backup.create import GROUP, RESOURCE, backup_settings
from bot.steps.base import Step, StepContext, StepPlan

LIST = Permission(verb="list", resource=RESOURCE, group=GROUP)
SHOWN = 20


def _get(ident: str) -> Permission:
    return Permission(verb="get", resource=RESOURCE, group=GROUP, name=ident)


class ListParams(BaseModel):
    """Which target (default: the cluster's)."""

    model_config = ConfigDict(extra="forbid")
    target: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="the backup target to read (default: the cluster's)",
    )


class IdParams(BaseModel):
    """One backup, by id."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(
        pattern=r"^[a-z0-9-]{1,100}T\d{6}Z-(r\d+|api)$", description="the backup's id, as `etcd-backup list` shows it"
    )
    target: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="the backup target to read (default: the cluster's)",
    )


def _setup(ctx: StepContext, ident: str | None = None) -> ClusterBackups:
    if ident is not None:
        cluster, _ = parse_backup_id(ident)
        if cluster != ctx.cluster:
            raise UserError(
                f"backup {ident} belongs to cluster {cluster}, not {ctx.cluster}", hint=f"add --cluster {cluster}"
            )
    return ClusterBackups(backup_settings(ctx), ctx.cluster)


class ListBackups(Step[ListParams]):
    """The cluster's listed backups — complete and verified — newest first."""

    name = "backup.list"
    Params = ListParams
    summary = "list the cluster's complete, verified backups"

    def static_permissions(self, params: ListParams | None) -> list[Permission]:
        return [LIST]

    def plan(self, ctx: StepContext, params: ListParams) -> StepPlan:
        setup = _setup(ctx)
        return StepPlan(f"list backups of {ctx.cluster} on {setup.describe_target(params.target)}", permissions=[LIST])

    def run(self, ctx: StepContext, params: ListParams) -> Report:
        setup = _setup(ctx)
        backups = list_backups(setup, params.target)
        now = datetime.now(UTC)
        rows = [
            [
                m.id,
                f"{_age(now - m.created_at)} ago",
                "etcd r" + str(m.revision) if m.kind == "etcd-snapshot" else f"API ({m.resources} objects)",
                human_bytes(m.plaintext_size),
                m.key_id if len(m.key_id) < 40 else "…" + m.key_id[-38:],
            ]
            for m in backups[:SHOWN]
        ]
        report = Report(
            title=f"{len(backups)} backup(s) of {ctx.cluster} on {setup.target_name(params.target)}",
            tone=Tone.OK if backups else Tone.WARN,
        )
        report.table(["id", "taken", "what", "size", "key"], rows, empty="no complete, verified backup yet")
        if len(backups) > SHOWN:
            report.context.append(f"… and {len(backups) - SHOWN} older")
        report.context.append("verify one: /k8s etcd-backup verify <id> · restore: /k8s etcd-restore <id>")
        return report


def _age(delta: object) -> str:
    from datetime import timedelta

    assert isinstance(delta, timedelta)
    secs = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


class VerifyBackup(Step[IdParams]):
    """Download, decrypt, check both SHA-256s and etcd's trailer, and run ``etcdutl snapshot status``."""

    name = "backup.verify"
    Params = IdParams
    summary = "download, decrypt and check one backup"

    def static_permissions(self, params: IdParams | None) -> list[Permission]:
        return [_get(params.id if params else "")]

    def plan(self, ctx: StepContext, params: IdParams) -> StepPlan:
        _setup(ctx, params.id)
        return StepPlan(f"verify backup {params.id}", permissions=[_get(params.id)])

    def run(self, ctx: StepContext, params: IdParams) -> Report:
        setup = _setup(ctx, params.id)
        manifest = find_backup(setup, params.id, params.target)
        ctx.progress(f"downloading and decrypting {manifest.location}")
        result = verify(setup, manifest, abort=ctx.abort)
        report = Report(title=f"Backup {manifest.id} verified", tone=Tone.OK, summary=manifest.location)
        report.section("Checks").lines = result.checks
        return report


class RestoreChecklist(Step[IdParams]):
    """Print the exact, tested restore checklist of one backup for the cluster's control-plane layout."""

    name = "backup.restore_checklist"
    Params = IdParams
    summary = "print the restore checklist of a backup (not automated)"

    def static_permissions(self, params: IdParams | None) -> list[Permission]:
        return [_get(params.id if params else "")]

    def plan(self, ctx: StepContext, params: IdParams) -> StepPlan:
        _setup(ctx, params.id)
        return StepPlan(f"show how to restore backup {params.id}", permissions=[_get(params.id)])

    def run(self, ctx: StepContext, params: IdParams) -> Report:
        setup = _setup(ctx, params.id)
        manifest = find_backup(setup, params.id, params.target)
        if manifest.kind != "etcd-snapshot":
            raise UserError(
                f"{manifest.id} is an API export, not an etcd snapshot",
                hint="fetch it (`runbook-bot backup fetch ID --decrypt -o export.tar`), then apply what you need",
            )
        layout = setup.cfg.etcd.layout if setup.cfg.etcd else "other"
        report = Report(
            title=f"Restore checklist for {manifest.id} ({layout})",
            tone=Tone.WARN,
            summary="Not automated: restoring replaces the whole cluster state. Every control-plane node, in order.",
        )
        report.section().fields = [
            ("Backup", manifest.id),
            ("Revision", str(manifest.revision)),
            ("Taken", f"{manifest.created_at:%Y-%m-%d %H:%M} UTC"),
            ("Location", manifest.location),
        ]
        for step in restore_checklist(manifest, layout):
            report.section(step.title).lines = step.text()
        return report
