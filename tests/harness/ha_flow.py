"""Drive runs across bot processes the way Slack does, and read what they left behind.

``HaSession`` owns everything a multi-process test starts — ``serve`` replicas on one shared
config and PostgreSQL database, a ``Store`` to read runs and audit events — and stops it all in
``close``. The Slack side (``request_plan``, ``start_run``, ``wait_update``, ``final_update``)
only posts signed requests to a replica and reads what the replicas sent to the ``FakeSlack``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from bot.store import RunRecord, Store
from tests.harness.bot_process import BotProcess, process_config
from tests.harness.bot_server import BOT_TOKEN, SIGNING_SECRET
from tests.harness.control_plane import ControlPlane
from tests.harness.kwok_nodes import wait_for
from tests.harness.slack_flow import STAGING, SlackEndpoint, all_text, click
from tests.harness.slack_server import FakeSlack, SlackCall
from tests.harness.slack_signing import signed_headers, slash_command_body

PLAN_SECONDS = 90.0  # planning a drain (SubjectAccessReviews, listing pods) on a busy 2-core machine
REQUESTER = "U0ALICE"


@dataclass(frozen=True)
class SlackRun:
    """A run as Slack knows it: its id and its one message."""

    id: str
    ts: str


def actions_of(call: SlackCall) -> list[str]:
    """The action ids of a message's buttons."""
    return [e["action_id"] for b in call.args.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def text_of(call: SlackCall) -> str:
    """All text of a recorded message (blocks, else its plain text)."""
    blocks = call.args.get("blocks") or []
    return all_text(blocks) if blocks else str(call.args.get("text") or "")


def slash(replica: SlackEndpoint, slack: FakeSlack, text: str, user: str = REQUESTER) -> str:
    """Post ``/k8s text`` in the staging channel to ``replica``; the name of its response URL."""
    name = f"r-{uuid.uuid4().hex[:8]}"
    body = slash_command_body(text, user_id=user, channel_id=STAGING, response_url=slack.response_url(name))
    status, answer = replica.post("/slack/events", body, signed_headers(SIGNING_SECRET, body))
    assert status == 200, f"/k8s {text}: HTTP {status} {answer}"
    return name


def request_plan(replica: SlackEndpoint, slack: FakeSlack, text: str, node: str) -> SlackCall:
    """``/k8s text`` through ``replica``; the plan message it posted (for ``node``), with its ``ts``."""
    slash(replica, slack, text)
    return wait_plan(slack, node)


def wait_plan(slack: FakeSlack, node: str) -> SlackCall:
    """The plan message (with Confirm) posted for ``node``, with its ``ts``."""
    (plan,) = slack.wait_match(
        "chat.postMessage",
        lambda c: c.args["channel"] == STAGING and "rb_confirm" in actions_of(c) and f"node {node}" in text_of(c),
        timeout=PLAN_SECONDS,
    )
    plan.args["ts"] = slack.posted_ts(plan)
    return plan


def refusal(replica: SlackEndpoint, slack: FakeSlack, text: str, words: str) -> SlackCall:
    """``/k8s text`` through ``replica``; its answer (to the command's response URL) containing ``words``."""

    def refused(c: SlackCall) -> bool:
        return words in text_of(c)

    before = len([c for c in slack.of("response_url") if refused(c)])
    slash(replica, slack, text)
    return slack.wait_match("response_url", refused, count=before + 1, timeout=PLAN_SECONDS)[-1]


def run_id_of(call: SlackCall) -> str:
    """The run id a message's buttons carry (``run_id:plan_hash``)."""
    values = [e["value"] for b in call.args.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]
    return str(values[0]).partition(":")[0]


def start_run(replica: SlackEndpoint, slack: FakeSlack, text: str, node: str) -> SlackRun:
    """Request through ``replica`` and click Confirm there (it executes the run); the run."""
    plan = request_plan(replica, slack, text, node)
    click(replica, plan, "rb_confirm", REQUESTER)
    return SlackRun(run_id_of(plan), str(plan.args["ts"]))


def wait_update(slack: FakeSlack, ts: str, *words: str, timeout: float = 60.0) -> SlackCall:
    """The first update of message ``ts`` containing every one of ``words``."""
    found = slack.wait_match(
        "chat.update", lambda c: c.args.get("ts") == ts and all(w in text_of(c) for w in words), timeout=timeout
    )
    return found[0]


def final_update(slack: FakeSlack, ts: str, outcome: str, timeout: float = 60.0) -> SlackCall:
    """Message ``ts`` as left when its run ended: the outcome is posted in its thread after the last update."""
    slack.wait_match(
        "chat.postMessage",
        lambda c: c.args.get("thread_ts") == ts and str(c.args.get("text", "")).startswith(f"{outcome}:"),
        timeout=timeout,
    )
    return [c for c in slack.of("chat.update") if c.args.get("ts") == ts][-1]


@dataclass
class HaSession:
    """Replicas on one config and database, and a store to read them; ``close`` stops every process."""

    cp: ControlPlane
    api: client.ApiClient
    slack: FakeSlack
    store_url: str
    tmp: Path
    replicas: list[BotProcess] = field(default_factory=list)
    _store: Store | None = None

    @property
    def store(self) -> Store:
        """The shared database, as the test reads it."""
        if self._store is None:
            self._store = Store.open(self.store_url)
        return self._store

    def config(self, name: str = "bot", **kw: Any) -> Path:
        """Write a config (``process_config`` keywords) for this session's cluster, Slack and database."""
        return process_config(self.tmp / f"{name}.yaml", self.cp.admin_kubeconfig, self.slack, self.store_url, **kw)

    def start(self, config: Path, *names: str) -> list[BotProcess]:
        """``serve`` replicas, started at once (each stopped by ``close`` whatever happens)."""
        started = []
        for name in names:
            replica = BotProcess(name, config, self.tmp)
            self.replicas.append(replica)
            started.append(replica.launch())
        for replica in started:
            replica.wait_ready()
        return started

    def run(self, run_id: str) -> RunRecord:
        """The run's row now."""
        rec = self.store.get_run(run_id)
        assert rec is not None, f"no run {run_id}"
        return rec

    def wait_state(self, run_id: str, states: Collection[str], timeout: float) -> RunRecord:
        """Wait until the run is in one of ``states``; its row."""
        return wait_for(
            f"run {run_id} to be {'/'.join(states)}",
            lambda: rec if (rec := self.run(run_id)).state in states else None,
            timeout,
            interval=0.1,
        )

    def audit_kinds(self, run_id: str) -> list[str]:
        """The kinds of the run's audit events, oldest first."""
        return [e.kind for e in reversed(self.store.audit_events(run_id=run_id, limit=1000))]

    def secrets_logged(self) -> list[str]:
        """Replicas whose log contains the Slack bot token or signing secret (given only through env)."""
        return [r.name for r in self.replicas if BOT_TOKEN in r.log() or SIGNING_SECRET in r.log()]

    def close(self) -> None:
        """Stop every replica (SIGTERM, then SIGKILL), close the store."""
        try:
            for replica in self.replicas:
                replica.stop()
        finally:
            if self._store is not None:
                self._store.close()


def owner_of(replica: BotProcess, rec: RunRecord) -> bool:
    """Whether ``rec`` is owned by ``replica`` (owner ids are ``<POD_NAME>-<pid>-<random>``)."""
    return (rec.owner_id or "").startswith(f"{replica.name}-{replica.pid}-")
