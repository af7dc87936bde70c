"""The App Home tab: published on ``app_home_opened``, and again whenever a run it concerns changes.

Who sees what is decided where it always is: approvals by ``bot.engine.inbox`` (the two-person
rule of ``approvals.py`` plus the approver's own SubjectAccessReview), alerts by ``AlertAccess``
(``policies.access.alerts`` on each alert's cluster). The view's buttons are the run and alert
messages' own, handled by the same listeners.

Live updates: the run service's audit sink tells ``HomeTab`` about every event of a change run;
one background thread republishes the Home of every person who opened it here before (a bounded
registry, least recently opened forgotten first) and whom the run concerns — its requester, the
people in its approver set, and anyone whose view showed it. Requests coalesce, so a burst of step
events costs one publish per person. The registry lives in memory: with several replicas, a Home
is kept live by the replica that received ``app_home_opened``, and is rebuilt from the store on
every open wherever it lands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.bootstrap import Bot
from bot.engine.identity import IdentityMapper
from bot.engine.inbox import RunInbox
from bot.engine.ledger import AuditSink
from bot.errors import UserError
from bot.health.alerting import AlertAccess
from bot.model import Requester
from bot.slack.home_view import HomeContent, home_view, shown_runs
from bot.slack.writer import slack_error
from bot.store import AuditEvent, RunRecord

log = logging.getLogger("bot.slack")
HOME_USERS = 500  # people whose Home is kept live (per replica)
NOTICE_SECONDS = 300.0  # how long a click's answer stays at the top of the Home
ACCESS_TTL_SECONDS = 60.0  # alert visibility (a SubjectAccessReview per cluster) is reused this long
ACCESS_CACHED = 2000


class HomeRegistry:
    """Who opened Home (at most ``limit``), the runs each view shows, and a notice for each."""

    def __init__(self, limit: int = HOME_USERS, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._users: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._notices: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def opened(self, user_id: str) -> None:
        """Remember ``user_id`` (most recent); the least recently opened is forgotten past the limit."""
        with self._lock:
            self._users[user_id] = self._users.pop(user_id, frozenset())
            while len(self._users) > self._limit:
                gone, _ = self._users.popitem(last=False)
                self._notices.pop(gone, None)

    def users(self) -> list[str]:
        """Everyone remembered, least recently opened first."""
        with self._lock:
            return list(self._users)

    def showed(self, user_id: str, runs: frozenset[str]) -> None:
        """What ``user_id``'s published view shows."""
        with self._lock:
            if user_id in self._users:
                self._users[user_id] = runs

    def shows(self, user_id: str, run_id: str) -> bool:
        """Does ``user_id``'s view show ``run_id``?"""
        with self._lock:
            return run_id in self._users.get(user_id, frozenset())

    def set_notice(self, user_id: str, text: str) -> None:
        """A line for the top of ``user_id``'s Home (the answer to a click made there)."""
        with self._lock:
            if user_id in self._users:
                self._notices[user_id] = (self._clock(), text)

    def notice(self, user_id: str) -> str | None:
        """The notice still worth showing, if any."""
        with self._lock:
            found = self._notices.get(user_id)
            if found is None or self._clock() - found[0] > NOTICE_SECONDS:
                self._notices.pop(user_id, None)
                return None
            return found[1]


class HomeTab:
    """Builds and publishes Homes; ``schedule`` work is done by one background thread."""

    def __init__(self, bot: Bot, mapper: IdentityMapper, client: WebClient, access: AlertAccess) -> None:
        self.bot = bot
        self.mapper = mapper
        self.client = client
        self.access = access
        self.registry = HomeRegistry()
        self.inbox = RunInbox(bot.store, bot.engine, lambda: bot.runs.clock())
        self._cond = threading.Condition()
        self._users: set[str] = set()
        self._runs: set[str] = set()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._seen_access: OrderedDict[tuple[str, str], tuple[float, bool]] = OrderedDict()

    # -- what triggers a publish --------------------------------------------------------------------
    def opened(self, user_id: str) -> None:
        """``app_home_opened`` (home tab): remember the person and publish their Home."""
        self.registry.opened(user_id)
        self._schedule(users=[user_id])

    def notice(self, user_id: str, text: str) -> None:
        """Answer a click made on Home at the top of that Home (there is no channel for an ephemeral)."""
        self.registry.opened(user_id)
        self.registry.set_notice(user_id, text)
        self._schedule(users=[user_id])

    def refresh(self, user_id: str) -> None:
        """Republish one person's Home if they opened it here."""
        if user_id in self.registry.users():
            self._schedule(users=[user_id])

    def run_changed(self, rec: RunRecord | None, event: AuditEvent) -> None:
        """Audit sink: a change run moved; the Homes it concerns are republished (off this thread)."""
        if rec is None or rec.risk == "read":
            return
        self._schedule(runs=[rec.id])

    # -- building and publishing --------------------------------------------------------------------
    def content_for(self, user_id: str) -> HomeContent:
        """What ``user_id``'s Home shows now."""
        now = self.bot.runs.clock()
        try:
            actor = self.mapper.requester(user_id)
        except UserError as exc:
            text = exc.message + (f" — {exc.hint}" if exc.hint else "")
            return HomeContent(who=user_id, now=now, unmapped=text, notice=self.registry.notice(user_id))
        firing = self.bot.store.open_alerts(states=("firing",))
        clusters = {a.cluster for a in firing}
        visible = {c for c in clusters if self._may_act(c, actor)}
        return HomeContent(
            who=f"{actor.display_name} · acting as {actor.describe()}",
            now=now,
            inbox=self.inbox.for_actor(actor),
            alerts=[a for a in firing if a.cluster in visible],
            notice=self.registry.notice(user_id),
        )

    def publish(self, user_id: str) -> None:
        """Build ``user_id``'s Home and publish it (views.publish); a refusal by Slack is logged."""
        content = self.content_for(user_id)
        try:
            self.client.views_publish(user_id=user_id, view=home_view(content))
        except SlackApiError as exc:
            log.warning("cannot publish the Home tab", extra={"error": slack_error(exc)})
            return
        self.registry.showed(user_id, frozenset(shown_runs(content)))

    def concerned(self, run_id: str) -> list[str]:
        """The remembered people whose Home a change of ``run_id`` may change."""
        rec = self.bot.store.get_run(run_id)
        if rec is None:
            return []
        found = []
        for user_id in self.registry.users():
            if user_id == rec.requester_chat_id or self.registry.shows(user_id, run_id):
                found.append(user_id)
                continue
            try:
                actor = self.mapper.requester(user_id)
            except UserError:
                continue
            if self.inbox.concerns(rec, actor):
                found.append(user_id)
        return found

    def _may_act(self, cluster: str, actor: Requester) -> bool:
        """``AlertAccess`` for the Home's alert list, reused for a minute (the buttons ask again)."""
        key = (f"{actor.kube_user}|{','.join(actor.kube_groups)}", cluster)
        now = time.monotonic()
        with self._cond:
            hit = self._seen_access.get(key)
        if hit is not None and now - hit[0] < ACCESS_TTL_SECONDS:
            return hit[1]
        allowed = self.access.may_act(cluster, actor)
        with self._cond:
            self._seen_access[key] = (now, allowed)
            while len(self._seen_access) > ACCESS_CACHED:
                self._seen_access.popitem(last=False)
        return allowed

    # -- the publishing thread ----------------------------------------------------------------------
    def _schedule(self, *, users: list[str] | None = None, runs: list[str] | None = None) -> None:
        with self._cond:
            if self._closed:
                return
            self._users.update(users or [])
            self._runs.update(runs or [])
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="home-publisher", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._users or self._runs or self._closed):
                    self._cond.wait()
                if self._closed:
                    return
                users, runs = set(self._users), set(self._runs)
                self._users.clear()
                self._runs.clear()
            self._work(users, runs)

    def _work(self, users: set[str], runs: set[str]) -> None:
        try:
            for run_id in runs:
                users.update(self.concerned(run_id))
        except Exception:  # the store failing must not end the publishing thread
            log.exception("cannot work out whose Home a run change concerns")
        for user_id in sorted(users):
            try:
                self.publish(user_id)
            except Exception:  # one person's Home failing must not stop the others'
                log.exception("cannot build the Home tab")

    def close(self) -> None:
        """Stop the publishing thread (pending publishes are dropped)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def with_home(sink: AuditSink | None, home: HomeTab) -> AuditSink:
    """An audit sink that also tells ``home`` (even when ``sink``, the audit channel, fails)."""

    def both(rec: RunRecord | None, event: AuditEvent) -> None:
        try:
            if sink is not None:
                sink(rec, event)
        finally:
            home.run_changed(rec, event)

    return both


def register_home(app: App, home: HomeTab) -> None:
    """``app_home_opened``: publish the opener's Home (only the Home tab, not the Messages tab)."""

    def on_home_opened(event: dict[str, object]) -> None:
        """Bolt acknowledges events itself; the publish happens on the Home's own thread."""
        if event.get("tab", "home") == "home" and isinstance(event.get("user"), str):
            home.opened(str(event["user"]))

    app.event("app_home_opened")(on_home_opened)
