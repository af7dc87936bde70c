"""The health service: sweeps on an interval and digests on their crons — on the leader only.

``start()`` campaigns for the Lease (``health.leader_election``) and starts APScheduler paused;
becoming leader resumes the scheduler (a sweep runs at once), losing leadership pauses it. Every
job also checks leadership before acting, and every post is claimed in the store first, so even
two replicas that both believe they lead for a moment post nothing twice.

``sweep()`` and ``post_digest()`` are plain methods: tests (and the shell) call them directly,
with an injected ``clock`` instead of waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.backup.schedule import backup_jobs
from bot.clients.kube import KubeClients
from bot.clients.lease import LeaderElector, LeaseLock, default_identity, default_namespace
from bot.config.health import DigestSettings
from bot.config.settings import Settings
from bot.health.alerting.access import AlertAccess
from bot.health.alerting.actions import AlertActions
from bot.health.alerting.alert_messages import RunbookExists
from bot.health.alerting.digest import compose_digest, digest_trigger, due_fire_time
from bot.health.alerting.lifecycle import AlertLifecycle
from bot.health.alerting.ports import AlertPoster, Leadership, MessageRef, PostError
from bot.health.alerting.sweep import ClusterSweep, Sweeper
from bot.health.checks import HEALTH_CHECKS, CheckRegistry
from bot.metrics import HEALTH_LEADER
from bot.report import Report
from bot.store import Store, utc_now

log = logging.getLogger("bot.health")


class HealthService:
    """Sweeps, alert lifecycle, digests, and the leader-only scheduler that runs them."""

    def __init__(
        self,
        settings: Settings,
        kube: KubeClients,
        store: Store,
        poster: AlertPoster | None,
        *,
        runbook_exists: RunbookExists,
        clock: Callable[[], datetime] = utc_now,
        identity: str | None = None,
        leadership: Leadership | None = None,
        checks: CheckRegistry = HEALTH_CHECKS,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.store = store
        self.poster = poster
        self.clock = clock
        self.identity = identity or settings.health.leader_election.identity or default_identity()
        self.sweeper = Sweeper(settings, kube, store, clock=clock, checks=checks)
        self.lifecycle = AlertLifecycle(
            settings, store, poster, runbook_exists, identity=self.identity, clock=clock, checks=checks
        )
        access = AlertAccess(kube, settings.policies.access.alerts, list(settings.clusters))
        self.actions = AlertActions(store, poster, runbook_exists, clock=clock, access=access, checks=checks)
        self.leadership = leadership
        self.elector: LeaderElector | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.sweeps = 0
        self._work_lock = threading.Lock()
        self._progress = threading.Condition()

    # -- the work ---------------------------------------------------------------------------------
    def is_leader(self) -> bool:
        """Whether this replica may run scheduled work (always, without leader election)."""
        return self.leadership.is_leader() if self.leadership is not None else True

    def sweep(self, clusters: Sequence[str] | None = None) -> list[ClusterSweep]:
        """Sweep ``clusters`` (default: every one) and apply the results to the alerts (posting what changed)."""
        with self._work_lock:
            results = self.sweeper.sweep(clusters)
            for result in results:
                self.lifecycle.apply(result.cluster, result.evaluation)
        with self._progress:
            self.sweeps += 1
            self._progress.notify_all()
        return results

    def post_digest(self, digest: DigestSettings, scheduled_for: datetime) -> MessageRef | None:
        """Post the digest of cron time ``scheduled_for`` unless someone already did; return where."""
        if not self.store.claim_digest(digest.key, scheduled_for, self.identity):
            log.info("digest already posted", extra={"digest": digest.key, "scheduled_for": scheduled_for.isoformat()})
            return None
        sweeps = self.sweep()
        report = compose_digest(self.settings, self.store, digest, sweeps, scheduled_for, self.clock())
        ref = None
        if self.poster is not None:
            try:
                ref = self.poster.post(digest.channel, report)
            except PostError as exc:
                log.error("cannot post the digest", extra={"digest": digest.key, "error": exc.reason})
        self.store.finish_digest(digest.key, scheduled_for, ref.channel if ref else None, ref.ts if ref else None)
        return ref

    def wait_for_sweeps(self, count: int, timeout: float) -> bool:
        """Block until ``count`` sweeps have completed in this process (False on timeout)."""
        with self._progress:
            return self._progress.wait_for(lambda: self.sweeps >= count, timeout)

    # -- scheduled jobs ---------------------------------------------------------------------------
    def _scheduled_sweep(self) -> None:
        if not self.is_leader():
            return
        try:
            self.sweep()
        except Exception:
            log.exception("health sweep failed")

    def _scheduled_digest(self, name: str) -> None:
        if not self.is_leader():
            return
        digest = next((d for d in self.settings.health.digests if d.key == name), None)
        if digest is None:
            return
        due = due_fire_time(digest, self.clock())
        if due is None:
            return
        try:
            self.post_digest(digest, due)
        except Exception:
            log.exception("digest failed", extra={"digest": name})

    def build_scheduler(self) -> BackgroundScheduler:
        """APScheduler with the sweep (interval) and one cron job per digest, not yet started."""
        h = self.settings.health
        scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        scheduler.add_job(
            self._scheduled_sweep,
            IntervalTrigger(seconds=h.interval_seconds),
            id="health-sweep",
            misfire_grace_time=None,
            next_run_time=datetime.now(scheduler.timezone),
        )
        for digest in h.digests:
            scheduler.add_job(
                self._scheduled_digest,
                digest_trigger(digest),
                args=[digest.key],
                id=f"digest-{digest.key}",
                misfire_grace_time=digest.misfire_grace_seconds,
            )
        for job in backup_jobs(self.settings, self.kube, self.store, self.post_audit, clock=self.clock):
            scheduler.add_job(
                self._leader_only, job.trigger, args=[job.run], id=job.id, misfire_grace_time=job.misfire_grace_seconds
            )
        return scheduler

    def _leader_only(self, work: Callable[[], object]) -> None:
        if self.is_leader():
            work()

    def post_audit(self, report: Report) -> None:
        """Post a report (a scheduled backup's outcome) to the audit channel, if one is configured."""
        channel = self.settings.slack.audit_channel
        if self.poster is not None and channel:
            try:
                self.poster.post(channel, report)
            except PostError as exc:
                log.error("cannot post to the audit channel", extra={"error": exc.reason})

    # -- lifecycle of the service -----------------------------------------------------------------
    def start(self) -> None:
        """Start the scheduler (paused) and campaign for leadership; resume while leading."""
        if self.scheduler is not None:
            return
        self.scheduler = self.build_scheduler()
        self.scheduler.start(paused=True)
        le = self.settings.health.leader_election
        if not le.enabled:
            HEALTH_LEADER.set(1)
            self.scheduler.resume()
            return
        cluster = le.cluster or self.settings.default_cluster
        assert cluster is not None
        in_cluster = self.settings.clusters[cluster].in_cluster
        lock = LeaseLock(self.kube.access(cluster, None), le.namespace or default_namespace(in_cluster), le.lease_name)
        self.elector = LeaderElector(
            lock,
            self.identity,
            lease_duration=le.lease_duration_seconds,
            renew_deadline=le.renew_deadline_seconds,
            retry_period=le.retry_period_seconds,
            on_started=self._on_leading,
            on_stopped=self._on_not_leading,
        )
        self.leadership = self.elector
        self.elector.start()

    def _on_leading(self) -> None:
        HEALTH_LEADER.set(1)
        if self.scheduler is not None:
            job = self.scheduler.get_job("health-sweep")
            if job is not None:
                job.modify(next_run_time=datetime.now(self.scheduler.timezone))
            self.scheduler.resume()

    def _on_not_leading(self) -> None:
        HEALTH_LEADER.set(0)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()

    def stop(self, *, release: bool = True) -> None:
        """Stop the scheduler and, with ``release``, hand the lease over at once (clean shutdown)."""
        if self.elector is not None:
            self.elector.stop(release=release)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
