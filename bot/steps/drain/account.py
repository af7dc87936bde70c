"""A drain's truthful account when it stops part-way: how many pods were evicted, which remain.

The pods that remain come from a fresh list of the node (retried like any read), so the account
matches the cluster even after the watches lost the API server for a while; only when the API
server cannot be read at all does it fall back to the watch's last view, and says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from bot.clients.retry import bounded_by, describe
from bot.steps.base import StepContext
from bot.steps.drain.filters import Obj, pod_key

log = logging.getLogger("bot.drain")
LISTED = 20  # pods named in an account before "… and N more"
FRESH_LIST_SECONDS = 20.0


def clipped(items: Sequence[str], limit: int = LISTED, sep: str = ", ") -> str:
    """``a, b, c, … and N more`` (at most ``limit`` items named)."""
    shown = sep.join(items[:limit])
    return shown + (f"{sep}… and {len(items) - limit} more" if len(items) > limit else "")


def still_on_node(
    ctx: StepContext, node: str, planned: Sequence[Obj], last_seen_gone: Callable[[str], bool]
) -> tuple[list[str], bool]:
    """The planned pods still on ``node`` (``ns/name``, ``(terminating)`` when on their way out), and
    whether the list is fresh (True) or the watch's last view because the API server did not answer."""
    wanted = {p["metadata"]["uid"]: pod_key(p) for p in planned}
    try:
        with bounded_by(deadline=time.monotonic() + FRESH_LIST_SECONDS):
            listed = list(
                ctx.kube.list_raw(ctx.kube.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node}")
            )
    except Exception as exc:  # noqa: BLE001 - the account is given whatever the API does now: fall back, say so
        log.warning("cannot list the pods left on node %s (%s)", node, describe(exc))
        return sorted(key for uid, key in wanted.items() if not last_seen_gone(uid)), False
    left = []
    for pod in listed:
        uid = pod["metadata"].get("uid")
        if uid in wanted:
            left.append(wanted[uid] + (" (terminating)" if pod["metadata"].get("deletionTimestamp") else ""))
    return sorted(left), True


def drain_account(
    node: str, evicted: Sequence[str], total: int, remaining: Sequence[str], fresh: bool
) -> tuple[list[str], list[str]]:
    """What the drain did and what it left, one line each (the step's ``StepAccount``: done, not done).

    ``evicted``: the pods whose eviction the API server accepted (``ns/name``), named after the count.
    """
    done = [f"evicted {len(evicted)} of {total} pods from node {node}" + (f": {clipped(evicted)}" if evicted else "")]
    if not remaining:
        return done, []
    how = "" if fresh else " (as last seen: the API server did not answer)"
    return done, [f"{len(remaining)} pod(s) still on node {node}{how}: {clipped(remaining)}"]
