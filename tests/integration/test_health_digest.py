"""Digests at their cron time, certificate expiry read from the real API server, etcd backup age."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from kubernetes import client
from slack_sdk.models.blocks import Block

from bot.health.alerting.digest import due_fire_time, next_fire_time
from bot.model import Requester
from bot.store import BackupRecord, RunRecord
from tests.harness.control_plane import ControlPlane
from tests.harness.health_setup import MovableClock, health_settings, replica
from tests.harness.kwok_nodes import create_node, unique_name
from tests.harness.slack_flow import all_text
from tests.harness.slack_server import FakeSlack, SlackCall

pytestmark = pytest.mark.integration
DIGEST = {"name": "ops", "channel": "C0DIGEST", "cron": "0 9 * * mon-fri", "timezone": "Europe/Madrid"}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def previous_fire(now: datetime) -> datetime:
    """The last weekday 09:00 Madrid at or before ``now``."""
    from bot.config.health import DigestSettings

    d = DigestSettings.model_validate(DIGEST)
    return max(t for k in range(1, 8) if (t := next_fire_time(d, now - timedelta(days=k))) <= now)


def old_run(created: datetime) -> RunRecord:
    return RunRecord(
        id=uuid.uuid4().hex[:12],
        runbook="cordon",
        risk="change",
        cluster="hc",
        namespace="default",
        command="cordon long-ago-node",
        requester_chat_id="U0OLD",
        requester_name="U0OLD",
        kube_user="old",
        kube_groups=[],
        state="succeeded",
        plan={},
        plan_hash="x",
        created_at=created,
    )


def test_the_digest_at_its_cron_time_lists_firing_alerts_and_the_runs_since_the_last_digest(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, slack: FakeSlack, tmp_path: Path
) -> None:
    core = client.CoreV1Api(kube_api_client)
    sick = unique_name("sick")
    create_node(core, sick, ready=False)
    clock = MovableClock()
    settings = health_settings(
        control_plane.admin_kubeconfig,
        f"sqlite:///{tmp_path}/h.sqlite3",
        digests=[DIGEST],
        backups={"hc": {"source": "store"}},
    )
    rep = replica(settings, slack, clock)
    (digest,) = settings.health.digests
    try:
        scheduler = rep.health.build_scheduler()
        job = scheduler.get_job("digest-ops")
        now = datetime.now(UTC)
        upcoming = next_fire_time(digest, now)
        assert job.trigger.get_next_fire_time(None, now) == upcoming, "APScheduler fires at the configured cron"
        assert upcoming.astimezone(job.trigger.timezone).strftime("%H:%M") == "09:00"
        assert upcoming.astimezone(job.trigger.timezone).weekday() < 5

        last = previous_fire(now)
        rep.bot.store.create_run(old_run(last - timedelta(hours=1)))  # before the previous digest
        clock.set(last)
        rep.health._scheduled_digest("ops")  # the job APScheduler runs at the cron time

        def digests() -> list[SlackCall]:
            return [c for c in slack.of("chat.postMessage") if c.args["channel"] == "C0DIGEST"]

        assert len(digests()) == 1

        me = Requester("U0ME", "U0ME", None)
        assert rep.bot.runs.request("nodes --cluster hc", me, "C0HC").ok  # a run since the last digest
        at = next_fire_time(digest, now + timedelta(minutes=16))  # late enough for the NotReady alert to fire
        rep.bot.store.record_backup(
            BackupRecord("snap-1", "hc", "succeeded", at - timedelta(hours=3), finished_at=at - timedelta(hours=3))
        )
        clock.set(at + timedelta(seconds=30))  # the job runs a little after its time
        assert due_fire_time(digest, clock()) == at
        rep.health._scheduled_digest("ops")
        rep.health._scheduled_digest("ops")  # a second run of the same tick posts nothing
        posts = digests()
        assert len(posts) == 2
        body = posts[-1].args["blocks"]
        Block.parse_all(body)
        text = all_text(body)
        local = at.astimezone(job.trigger.timezone)
        assert f"Health digest — {local:%a %d %b} 09:00 Europe/Madrid" in text
        assert f"node {sick} is NotReady" in text
        assert "Firing alerts" in text
        assert "nodes --cluster hc" in text, "the run since the last digest"
        assert "long-ago-node" not in text, "runs before the last digest are not repeated"
        assert "hc: last successful backup 3h" in text
    finally:
        rep.close()


def test_certificate_expiry_is_read_from_the_api_server_and_the_kubeconfig(
    control_plane: ControlPlane, slack: FakeSlack, tmp_path: Path
) -> None:
    rep = replica(
        health_settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path}/h.sqlite3"), slack, MovableClock()
    )
    try:
        result = rep.health.sweeper.sweep_cluster("hc")
        certs = {f.subject: f for f in result.evaluation.findings if f.check == "certificate_expiry"}
        serving = x509.load_pem_x509_certificate((control_plane.root / "pki" / "apiserver.crt").read_bytes())
        # The test PKI issues one-day certificates: both are within the critical window.
        assert certs["certificate/serving/kube-apiserver"].severity == "critical"
        assert f"{serving.not_valid_after_utc:%Y-%m-%d %H:%M}" in certs["certificate/serving/kube-apiserver"].summary
        assert certs["certificate/client/admin"].severity == "critical"
    finally:
        rep.close()


def test_etcd_backup_age_from_a_seeded_record_and_from_a_directory(
    control_plane: ControlPlane, slack: FakeSlack, tmp_path: Path
) -> None:
    backups = tmp_path / "snapshots"
    backups.mkdir()
    settings = health_settings(
        control_plane.admin_kubeconfig,
        f"sqlite:///{tmp_path}/h.sqlite3",
        backups={"hc": {"source": "store", "max_age": "26h"}},
        checks={"certificate_expiry": {"enabled": False}},
    )
    rep = replica(settings, slack, MovableClock())
    try:

        def backup_findings() -> list[str]:
            found = rep.health.sweeper.sweep_cluster("hc").evaluation.findings
            return [f.summary for f in found if f.check == "etcd_backup_age"]

        assert backup_findings() == ["no successful etcd backup recorded (backups recorded in the bot's store)"]
        now = datetime.now(UTC)
        rep.bot.store.record_backup(
            BackupRecord("old", "hc", "succeeded", now - timedelta(hours=30), finished_at=now - timedelta(hours=30))
        )
        (late,) = backup_findings()
        assert late.startswith("last successful etcd backup is 1d6h old")
        rep.bot.store.record_backup(
            BackupRecord("new", "hc", "succeeded", now - timedelta(hours=2), finished_at=now - timedelta(hours=2))
        )
        assert backup_findings() == []

        rep.health.sweeper.settings = settings.model_copy(
            update={"health": settings.health.model_copy(update={"backups": {"hc": _dir_source(backups)}})}
        )
        assert backup_findings()[0].startswith("no successful etcd backup recorded (newest *.db in")
        (backups / "etcd-2025.db").write_bytes(b"snapshot")
        assert backup_findings() == []
    finally:
        rep.close()


def _dir_source(path: Path) -> object:
    from bot.config.health import BackupSourceSettings

    return BackupSourceSettings(source="directory", directory=path, pattern="*.db")


def test_the_health_runbook_is_an_on_demand_digest_read_as_the_requester(
    control_plane: ControlPlane, kube_api_client: client.ApiClient, slack: FakeSlack, tmp_path: Path
) -> None:
    from bot.engine.identity import IdentityMapper
    from bot.report import Section
    from tests.harness.rbac import READ_RULES, bind_cluster_role, ensure_cluster_role

    ensure_cluster_role(kube_api_client, "runbook-read", READ_RULES)  # nodes, pods, apps — not HPAs, PDBs, jobs
    bind_cluster_role(kube_api_client, "runbook-read", group="health-readers")
    core = client.CoreV1Api(kube_api_client)
    sick = unique_name("sick")
    create_node(core, sick, ready=False)
    settings = health_settings(control_plane.admin_kubeconfig, f"sqlite:///{tmp_path}/h.sqlite3")
    settings.identity = settings.identity.model_validate(
        {"users": {"U0READ": {"user": "reader", "groups": ["health-readers"]}}}
    )
    rep = replica(settings, slack, MovableClock())
    try:
        outcome = rep.bot.runs.request("health", IdentityMapper(settings.identity).requester("U0READ"))
        assert outcome.ok, outcome.report
        assert outcome.report is not None, outcome.report
        report = outcome.report
        assert report.title == "Health of hc"
        sections = {p.title: p for p in report.parts if isinstance(p, Section)}
        problems = next(s for t, s in sections.items() if t and t.startswith("Problems found now"))
        assert any(f"node {sick} is NotReady" in line for line in problems.lines), "shown now, whatever the duration"
        not_checked = "\n".join(sections["Not checked"].lines)
        assert "hpa_maxed_out: horizontalpodautoscalers: forbidden" in not_checked
        assert "job_failed: jobs: forbidden" in not_checked
    finally:
        rep.close()
