"""etcd-backup through the bot: the runbooks in the normal flow (plan → SubjectAccessReview → confirm → run) as
a requester, the restore checklist performed against a real etcd, API export and Velero on the real API
server, and the schedule feeding the ``etcd_backup_age`` alert (fires when the schedule stops, resolves after
the next backup).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from bot.backup.pipeline import find_backup, list_backups
from bot.backup.readback import fetch
from bot.backup.restore import RestoreValues, restore_checklist
from bot.backup.setup import ClusterBackups
from bot.config.settings import Settings
from bot.engine.bootstrap import Bot, build_bot
from bot.engine.identity import IdentityMapper
from bot.model import Requester
from bot.report import Section, Table
from tests.harness.backup_setup import BackupWorld, member_like, start_and_read, tar_members
from tests.harness.control_plane import ControlPlane
from tests.harness.health_setup import MovableClock, alert_posts, health_settings, replica
from tests.harness.kwok_nodes import create_namespace, unique_name
from tests.harness.rbac import bind_cluster_role, ensure_cluster_role
from tests.harness.slack_flow import all_text
from tests.harness.slack_server import FakeSlack
from tests.harness.trust_setup import grant
from tests.harness.trust_setup import settings_doc as trust_doc

pytestmark = pytest.mark.integration

BACKUP_OPERATOR = [{"apiGroups": ["runbook-bot.io"], "resources": ["etcdbackups"], "verbs": ["create", "list", "get"]}]
EXPORTER = [
    {"apiGroups": [""], "resources": ["configmaps", "secrets", "namespaces", "serviceaccounts"], "verbs": ["list"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]},
    {"apiGroups": ["velero.io"], "resources": ["backups"], "verbs": ["create"]},
]
AUDIT = "C0AUDIT"
CERT_SECRET = "etcd-backup-client"


def lines_of(report: Any) -> str:
    out = [report.title, report.summary or ""]
    for part in report.parts:
        if isinstance(part, Section):
            out += [part.title or ""] + [f"{k}: {v}" for k, v in part.fields] + part.lines
        elif isinstance(part, Table):
            out += [" ".join(r) for r in part.rows]
    return "\n".join(out + report.context)


@pytest.fixture(scope="module")
def bot(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, backup_world: BackupWorld, tmp_path_factory: Any
) -> Iterator[Bot]:
    grant(kube_api_client)
    ensure_cluster_role(kube_api_client, "etcd-backup-operator", BACKUP_OPERATOR)
    bind_cluster_role(kube_api_client, "etcd-backup-operator", group="sre")
    bind_cluster_role(kube_api_client, "etcd-backup-operator", group="exporters")
    ensure_cluster_role(kube_api_client, "backup-exporter", EXPORTER)
    bind_cluster_role(kube_api_client, "backup-exporter", group="exporters")
    secret_reader = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [CERT_SECRET]}]
    ensure_cluster_role(kube_api_client, "etcd-backup-client-reader", secret_reader)
    bind_cluster_role(kube_api_client, "etcd-backup-client-reader", group="sre")
    w = backup_world
    core = client.CoreV1Api(kube_api_client)
    data = {
        k: base64.b64encode(p.read_bytes()).decode()
        for k, p in (("ca.crt", w.etcd.ca_file), ("tls.crt", w.etcd.cert_file), ("tls.key", w.etcd.key_file))
    }
    try:
        core.create_namespaced_secret("kube-system", {"metadata": {"name": CERT_SECRET}, "data": data})
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    tmp = tmp_path_factory.mktemp("flow")
    doc = trust_doc(control_plane.admin_kubeconfig, f"sqlite:///{tmp / 'bot.db'}")
    doc["clusters"]["managed"] = {**doc["clusters"]["staging"], "channels": []}  # no etcd access, no approvals
    doc["identity"]["users"]["U0OLGA"] = {"user": "olga", "groups": ["oncall", "exporters"]}
    doc["backup"] = {
        "staging_dir": str(tmp / "staging"),
        "targets": w.targets(),
        "keys": w.keys(),
        "clusters": {
            "staging": {  # the client certificate from a Secret, read as the requester
                "target": "s3",
                "key": "kms",
                "etcd": {"endpoints": [w.etcd.endpoint], "secret": {"name": CERT_SECRET}, "layout": "kubeadm"},
            },
            "managed": {"target": "blob", "key": "file", "retention": {"keep_last": 5}},
        },
    }
    b = build_bot(Settings(**doc))
    b.settings_doc = doc  # type: ignore[attr-defined]
    yield b
    b.close()


def who(bot: Bot, chat_id: str) -> Requester:
    return IdentityMapper(bot.settings.identity).requester(chat_id)


def test_etcd_backup_runs_through_the_normal_flow_as_the_requester(bot: Bot, backup_world: BackupWorld) -> None:
    alice = who(bot, "U0ALICE")
    backup_world.etcd.put(f"/flow/{uuid.uuid4().hex}", b"flow-value")
    out = bot.runs.request("etcd-backup --cluster staging", alice)
    assert out.ok, out.report and lines_of(out.report)
    assert out.pending, out.report and lines_of(out.report)
    assert out.run_id, out.report and lines_of(out.report)
    plan = lines_of(out.report)
    assert "mode: etcd" in plan
    assert "create etcdbackups.runbook-bot.io (cluster-wide)" in plan
    assert f"get secrets `{CERT_SECRET}` in namespace kube-system" in plan, "the certificate is read as alice"
    assert "AWS KMS" in plan
    assert "S3 bucket etcd-backups" in plan
    rec = bot.store.get_run(out.run_id)
    assert rec is not None
    assert rec.state == "awaiting_confirmation"
    assert bot.runs.confirm(rec.id, rec.plan_hash, alice).execute
    progress: list[str] = []
    final = bot.runs.execute(rec.id, progress=progress.append)
    done = bot.store.get_run(rec.id)
    assert done is not None, lines_of(final)
    assert done.state == "succeeded", lines_of(final)
    assert any(p.startswith("connected to etcd member") for p in progress)
    assert any(p.startswith("uploading: part") for p in progress), progress
    assert done.outcome is not None
    for word in ("stored and verified", "/s) to s3://etcd-backups/etcd/staging/", "key aws-kms arn:aws:kms:"):
        assert word in done.outcome, done.outcome
    recorded = bot.store.last_backup("staging")
    assert recorded is not None
    assert recorded.location
    assert recorded.location.startswith("s3://")
    kinds = [e.kind for e in reversed(bot.store.audit_events(run_id=rec.id, limit=50))]
    assert kinds[:3] == ["requested", "planned", "confirmed"]
    assert kinds[-1] == "succeeded"

    listed = bot.runs.request("etcd-backup list --cluster staging", alice)
    ident = str(recorded.detail["backup_id"])
    assert listed.ok
    assert ident in lines_of(listed.report)
    verified = bot.runs.request(f"etcd-backup verify {ident} --cluster staging", alice)
    assert verified.ok, lines_of(verified.report)
    assert "ciphertext SHA-256 matches" in lines_of(verified.report)
    checklist = bot.runs.request(f"etcd-restore {ident} --cluster staging", alice)
    text = lines_of(checklist.report)
    assert f"runbook-bot backup fetch {ident} --cluster staging --decrypt -o snapshot.db" in text
    assert "/etc/kubernetes/manifests/etcd.yaml" in text, "the kubeadm layout's stop command"


def test_a_requester_without_rbac_is_refused_naming_the_permission(bot: Bot) -> None:
    mallory = who(bot, "U0MALLORY")
    out = bot.runs.request("etcd-backup --cluster staging", mallory)
    assert not out.ok
    assert out.report is not None
    denial = lines_of(out.report)
    assert "mallory may not create etcdbackups.runbook-bot.io (cluster-wide)" in denial
    assert f"get secrets `{CERT_SECRET}` in namespace kube-system" in denial
    assert "on cluster staging" in denial
    listed = bot.runs.request("etcd-backup list --cluster staging", mallory)
    assert not listed.ok
    assert "list etcdbackups.runbook-bot.io" in lines_of(listed.report)


def test_the_restore_checklist_restores_a_real_etcd(bot: Bot, backup_world: BackupWorld, tmp_path: Path) -> None:
    w = backup_world
    keys = {f"/restore/{uuid.uuid4().hex}": os.urandom(8).hex().encode() for _ in range(3)}
    for k, v in keys.items():
        w.etcd.put(k, v)
    alice = who(bot, "U0ALICE")
    out = bot.runs.request("etcd-backup --cluster staging", alice)
    assert out.run_id
    rec = bot.store.get_run(out.run_id)
    assert rec is not None
    assert bot.runs.confirm(rec.id, rec.plan_hash, alice).execute
    bot.runs.execute(rec.id)
    setup = ClusterBackups(bot.settings.backup, "staging")
    manifest = list_backups(setup)[0]

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(bot.settings_doc))  # type: ignore[attr-defined]
    member = member_like(w.bin_dir, tmp_path, w.etcd, name="cp-1")
    old = tmp_path / "etcd-data"
    old.mkdir()
    values = RestoreValues(
        snapshot="snapshot.db",
        member=member.name,
        peer_url=member.peer_url,
        initial_cluster=f"{member.name}={member.peer_url}",
        cluster_token="etcd-restored-test",
        data_dir=str(old),
        restored_dir=str(tmp_path / "etcd-data-restored"),
    )
    steps = restore_checklist(manifest, "kubeadm", values)
    env = {
        **os.environ,
        "RUNBOOK_BOT_CONFIG": str(config),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), str(w.bin_dir), os.environ.get("PATH", "")]),
    }
    outputs = []
    for step in steps:
        for argv in step.argv:
            assert shutil.which(argv[0], path=env["PATH"]), f"{argv[0]} is on PATH"
            proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, f"{argv}: {proc.stdout}\n{proc.stderr}"
            outputs.append(proc.stdout)
    assert manifest.plaintext_sha256 in outputs[1], "sha256sum prints what the checklist says"
    assert str(manifest.revision) in outputs[2], "etcdutl snapshot status shows the revision"
    assert (tmp_path / f"etcd-data.before-{manifest.id}").is_dir(), "the old data dir is kept"
    assert start_and_read(member, old, list(keys)) == keys


def test_api_export_mode_archive_reads_back(
    bot: Bot, kube_api_client: client.ApiClient, backup_world: BackupWorld, tmp_path: Path
) -> None:
    core = client.CoreV1Api(kube_api_client)
    ns = unique_name("export")
    create_namespace(core, ns)
    secret_value = f"export-secret-{uuid.uuid4().hex}"
    core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}, "data": {"color": "blue"}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "creds"}, "stringData": {"password": secret_value}})
    olga = who(bot, "U0OLGA")
    out = bot.runs.request("etcd-backup --cluster managed", olga)
    assert out.ok, lines_of(out.report)
    assert out.run_id, lines_of(out.report)
    plan = lines_of(out.report)
    assert "mode: api_export" in plan
    assert "no Velero" in plan
    rec = bot.store.get_run(out.run_id)
    assert rec is not None
    assert bot.runs.confirm(rec.id, rec.plan_hash, olga).execute
    bot.runs.execute(rec.id)
    done = bot.store.get_run(rec.id)
    assert done is not None, done.outcome
    assert done.state == "succeeded", done.outcome
    setup = ClusterBackups(bot.settings.backup, "managed")
    manifest = list_backups(setup)[0]
    assert manifest.kind == "api-export"
    assert manifest.resources
    assert any("(forbidden)" in s for s in manifest.skipped), "resources olga may not list are named"
    stored = backup_world.blobs().download_blob(manifest.object_name).readall()
    assert secret_value.encode() not in stored
    assert b"blue" not in stored

    archive = tmp_path / "export.tar"
    fetch(setup, manifest, archive)
    files = tar_members(archive)
    cm = yaml.safe_load(files[f"core/v1/configmaps/{ns}/settings.json"])
    assert cm["kind"] == "ConfigMap"
    assert cm["data"] == {"color": "blue"}
    secret = yaml.safe_load(files[f"core/v1/secrets/{ns}/creds.json"])
    assert secret["kind"] == "Secret"
    assert "password" in secret["data"]
    index = yaml.safe_load(files["index.json"])
    assert index["objects"] == manifest.resources
    assert index["resources"]["secrets"] >= 1


VELERO_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "backups.velero.io"},
    "spec": {
        "group": "velero.io",
        "names": {"kind": "Backup", "listKind": "BackupList", "plural": "backups", "singular": "backup"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def test_velero_mode_when_velero_is_installed(bot: Bot, kube_api_client: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(kube_api_client)
    ext.create_custom_resource_definition(VELERO_CRD)
    core = client.CoreV1Api(kube_api_client)
    try:
        create_namespace(core, "velero")
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    try:
        olga = who(bot, "U0OLGA")
        deadline_ok = False
        for _ in range(100):  # the new API group is served within moments of the CRD's creation
            out = bot.runs.request("etcd-backup --cluster managed", olga)
            if out.report is not None and "mode: velero" in lines_of(out.report):
                deadline_ok = True
                break
            if out.run_id:
                bot.runs.cancel(out.run_id, bot.store.get_run(out.run_id).plan_hash, olga, "replanning")  # type: ignore[union-attr]
        assert deadline_ok, "the plan chose Velero"
        assert out.run_id
        assert "create backups.velero.io in namespace velero" in lines_of(out.report)
        rec = bot.store.get_run(out.run_id)
        assert rec is not None
        assert bot.runs.confirm(rec.id, rec.plan_hash, olga).execute
        bot.runs.execute(rec.id)
        done = bot.store.get_run(rec.id)
        assert done is not None
        assert done.state == "succeeded"
        assert "Velero Backup" in (done.outcome or "")
        custom = client.CustomObjectsApi(kube_api_client)
        items = custom.list_namespaced_custom_object("velero.io", "v1", "velero", "backups")["items"]
        mine = [i for i in items if i["metadata"]["annotations"].get("runbook-bot/run-id") == "managed-" + rec.id]
        assert len(mine) == 1
        assert mine[0]["spec"]["includedNamespaces"] == ["*"]
    finally:
        ext.delete_custom_resource_definition("backups.velero.io")


def test_etcd_backup_age_fires_when_the_schedule_stops_and_resolves_after_the_next_backup(
    control_plane: ControlPlane, backup_world: BackupWorld, tmp_path: Path
) -> None:
    w = backup_world
    slack = FakeSlack().start()
    clock = MovableClock()
    settings = health_settings(
        control_plane.admin_kubeconfig,
        f"sqlite:///{tmp_path / 'h.db'}",
        backups={"hc": {"source": "store", "max_age": "2h"}},
    )
    settings.slack.audit_channel = AUDIT
    settings.backup = Settings(
        backup={
            "staging_dir": str(tmp_path / "staging"),
            "targets": w.targets(),
            "keys": w.keys(),
            "clusters": {
                "hc": {"target": "dir", "key": "file", "etcd": w.etcd_access(), "schedule": {"cron": "0 * * * *"}}
            },
        },
        clusters={"hc": {}},
    ).backup
    rep = replica(settings, slack, clock)
    try:
        scheduler = rep.health.build_scheduler()
        job = scheduler.get_job("etcd-backup-hc")
        assert job is not None, "the leader's scheduler runs the cluster's backup schedule"
        job.func(*job.args)  # the cron fires: a backup as the bot, posted to the audit channel
        posts = [c for c in slack.of("chat.postMessage") if c.args["channel"] == AUDIT]
        assert len(posts) == 1
        assert "Scheduled backup: Backup hc-" in all_text(posts[0].args["blocks"])
        rep.health.sweep()
        assert alert_posts(slack, "etcd backup") == []

        clock.advance(timedelta(hours=3))  # the schedule stopped: no backup for 3 hours
        rep.health.sweep()
        (fired,) = alert_posts(slack, "etcd backup")
        assert "last successful etcd backup is 3h" in all_text(fired.args["blocks"])

        job.func(*job.args)  # the next backup
        rep.health.sweep()
        ts = slack.posted_ts(fired)
        updates = [c for c in slack.of("chat.update") if c.args["ts"] == ts]
        assert updates
        assert "Resolved" in all_text(updates[-1].args["blocks"])
    finally:
        rep.close()
        slack.stop()


def test_a_failed_scheduled_backup_records_nothing_valid_and_says_why(
    control_plane: ControlPlane, backup_world: BackupWorld, tmp_path: Path
) -> None:
    w = backup_world
    slack = FakeSlack().start()
    settings = health_settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path / 'h.db'}")
    settings.slack.audit_channel = AUDIT
    broken = {**w.etcd_access(), "endpoints": ["https://127.0.0.1:1"]}  # nothing listens there
    settings.backup = Settings(
        backup={
            "staging_dir": str(tmp_path / "staging"),
            "targets": w.targets(),
            "keys": w.keys(),
            "clusters": {"hc": {"target": "dir", "key": "file", "etcd": broken, "schedule": {"cron": "0 * * * *"}}},
        },
        clusters={"hc": {}},
    ).backup
    rep = replica(settings, slack, MovableClock())
    try:
        job = rep.health.build_scheduler().get_job("etcd-backup-hc")
        assert job is not None
        job.func(*job.args)
        assert rep.bot.store.last_backup("hc") is None
        failed = rep.bot.store.last_backup("hc", status="failed")
        assert failed is not None
        assert "no etcd member answered" in str(failed.detail["error"])
        (post,) = [c for c in slack.of("chat.postMessage") if c.args["channel"] == AUDIT]
        assert "Scheduled backup of hc FAILED" in all_text(post.args["blocks"])
    finally:
        rep.close()
        slack.stop()


def test_find_backup_names_the_newest_when_the_id_is_unknown(bot: Bot) -> None:
    setup = ClusterBackups(bot.settings.backup, "staging")
    with pytest.raises(Exception, match="no listed backup `staging-20000101T000000Z-r1`"):
        find_backup(setup, "staging-20000101T000000Z-r1")
