"""The bot's own pod on the node being drained: the plan says what that does to the run.

The bot knows its pod from the downward API (``POD_NAME``, ``POD_NAMESPACE``; the Helm chart sets
both). Draining its node evicts it mid-run: at SIGTERM the bot stops the run at a safe point and
records it interrupted (the node stays cordoned, the pods not yet evicted stay), and nothing
resumes it — a run that was executing is never taken over, only marked interrupted (by its owner,
or by another replica's recovery once the owner stopped heart-beating). With SQLite there is one
replica, so the bot is also down until its pod runs elsewhere. The way round: cordon the node,
restart the bot's Deployment so it starts elsewhere, then drain.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.config.settings import Settings
from bot.steps.drain.filters import Obj, PodVerdicts, controller_of

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_pod() -> tuple[str, str] | None:
    """``(namespace, name)`` of the pod this process runs in, or None outside Kubernetes (or without the env)."""
    name = os.environ.get("POD_NAME")
    namespace = os.environ.get("POD_NAMESPACE")
    if name and not namespace:
        try:
            namespace = NAMESPACE_FILE.read_text().strip()
        except OSError:
            namespace = None
    return (namespace, name) if name and namespace else None


def _deployment(pod: Obj) -> str:
    """``deployment/<name>`` of a ReplicaSet-owned pod (its ReplicaSet's name without the hash), else a description."""
    owner = controller_of(pod) or {}
    if owner.get("kind") == "ReplicaSet" and "-" in str(owner.get("name", "")):
        return "deployment/" + str(owner["name"]).rsplit("-", 1)[0]
    return "the bot's Deployment"


def own_pod_warning(node: str, verdicts: PodVerdicts, settings: Settings | None) -> str | None:
    """The warning for a drain of the node the bot runs on (None when it runs elsewhere, or is not evicted)."""
    me = own_pod()
    if me is None:
        return None
    candidates = [*verdicts.evict, *(p for p, _ in verdicts.refused)]
    pod = next((p for p in candidates if (p["metadata"]["namespace"], p["metadata"]["name"]) == me), None)
    if pod is None:
        return None
    namespace, name = me
    sqlite = settings is None or settings.store.url.startswith("sqlite")
    after = (
        "With SQLite the bot has a single replica: it is down until its pod runs on another node."
        if sqlite
        else "Another replica keeps serving Slack (and marks the run interrupted if this one could not)."
    )
    return (
        f"node {node} runs the bot itself (pod {namespace}/{name}): the drain evicts it mid-run. At SIGTERM the "
        "bot stops this run at a safe point and records it interrupted — the node stays cordoned and the pods "
        f"not yet evicted stay — and no replica resumes it. {after} To avoid it: cordon {node}, run "
        f"`kubectl -n {namespace} rollout restart {_deployment(pod)}` so the bot starts elsewhere, then drain."
    )
