"""Before serving (or when asked by ``check-config``): what stands in the way, one line each with what to do.

Two kinds of problem are told apart. The bot's own configuration — Slack tokens it needs, a
kubeconfig that is missing or names no such context, ``in_cluster`` outside a pod — will not fix
itself: ``serve`` refuses to start, so a pod crash-loops with the reason in its log instead of
passing its probes and failing at the first command. The state of a cluster — an API server
that does not answer, credentials it refuses (401) — may change at any time (an upgrade, a
network partition, a rotated token) and concerns one cluster among several: ``serve`` starts,
says so once, and the ``cluster_unreachable`` health check keeps watching.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bot.clients.cluster_access import ClusterProbe, load_configuration, probe_cluster
from bot.config.settings import Settings
from bot.errors import ClusterUnavailableError

_SLACK_FIX = {
    "slack.bot_token": "slack.bot_token_file (a mounted Secret) or RUNBOOK_BOT_SLACK__BOT_TOKEN: the app's xoxb- token",
    "slack.signing_secret": "slack.signing_secret_file or RUNBOOK_BOT_SLACK__SIGNING_SECRET: the app's signing secret",
    "slack.app_token": "slack.app_token_file or RUNBOOK_BOT_SLACK__APP_TOKEN: an xapp- token with connections:write",
}


def slack_problems(settings: Settings) -> list[str]:
    """What Slack's configured mode still needs, each with where to set it."""
    s = settings.slack
    return [f"Slack {s.mode} mode needs {name} — set {_SLACK_FIX[name]}" for name in s.missing_for_mode()]


def cluster_configuration_problems(settings: Settings) -> list[str]:
    """Clusters whose kubeconfig (or in-cluster account) cannot be loaded, one line each; no network."""
    problems = []
    for name, cs in settings.clusters.items():
        try:
            load_configuration(name, cs)
        except ClusterUnavailableError as exc:
            problems.append(str(exc))
    return problems


def probe_clusters(settings: Settings) -> list[ClusterProbe]:
    """Every cluster checked at once (configuration, then one ``GET /version`` without retries), in order."""
    names = list(settings.clusters)
    if not names:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(names)), thread_name_prefix="probe") as pool:
        return list(pool.map(lambda n: probe_cluster(n, settings.clusters[n]), names))
