"""Waiting for a replacement node: watch Nodes, poll the group, report progress, honour abort.

A node counts as the replacement when it did not exist (by UID) in the group before the
termination, belongs to the same group (same Karpenter NodePool / same VM scale set / an
instance the Auto Scaling group now holds) and reports Ready.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from bot.clients.cloud import InstanceRef, NodeGroup, parse_provider_id
from bot.clients.retry import classify as fault_of
from bot.clients.retry import describe
from bot.errors import AbortedError, PermanentError, TemporaryError, UserError
from bot.steps.base import StepContext
from bot.steps.facts import Obj, node_state
from bot.steps.replacement import cloud_groups, node_in_group

WATCH_WINDOW_SECONDS = 2


@dataclass(frozen=True)
class Found:
    """The replacement node, its instance (when known) and how long it took."""

    name: str
    instance: str | None
    seconds: float


class ReplacementWatch:
    """One wait for one replacement, driven by a Node watch and group polls."""

    def __init__(self, ctx: StepContext, record: dict[str, Any], watch_factory: Callable[[], Any]) -> None:
        self.ctx = ctx
        self.record = record
        self.watch_factory = watch_factory
        self.before = {str(u) for u in record.get("nodes_before") or []} | {str(record["node_uid"])}
        self.nodepool: str | None = record.get("nodepool")
        self.ref: InstanceRef | None = parse_provider_id(record["provider_id"]) if record.get("provider_id") else None
        self.instances_before = {str(i).lower() for i in record.get("instances_before") or []}
        self.group: NodeGroup | None = None
        self.nodes: dict[str, Obj] = {}
        self.poll_seconds = ctx.cloud.cloud_settings(ctx.cluster).poll_seconds if ctx.cloud else 5.0
        self._last_poll = 0.0
        self._registered: str | None = None

    # -- the loop -----------------------------------------------------------------------------
    def wait(self, timeout: float) -> Found:
        """Return the Ready replacement; AbortedError on abort, PermanentError after ``timeout`` seconds."""
        started = time.monotonic()
        deadline = started + timeout
        rv = self._relist()
        while True:
            if self.ctx.abort.is_set():
                raise AbortedError(self._left_behind("aborted while waiting for the replacement"))
            now = time.monotonic()
            if self.ref is not None and now - self._last_poll >= self.poll_seconds:
                self._poll_group(deadline)
            found = self._candidate(started)
            if found is not None:
                return found
            if now >= deadline:
                raise PermanentError(
                    self._left_behind(f"no replacement node became Ready within {timeout:.0f}s ({self._status()})")
                )
            self.ctx.progress(f"waiting for the replacement: {self._status()} · {now - started:.0f}s")
            rv = self._follow(rv, max(1, min(WATCH_WINDOW_SECONDS, int(deadline - now) + 1)), started, deadline)

    def _follow(self, rv: str, window: int, started: float, deadline: float) -> str:
        """One watch window through the retry policy: a broken connection backs off, then re-lists and watches."""
        broken = [False]
        last = [rv]

        def once() -> str:
            if broken[0]:
                last[0] = self._relist()
            broken[0] = True
            last[0] = self._watch(last[0], window, started)
            broken[0] = False
            return last[0]

        try:
            return self.ctx.kube.retry.call(once, what="Node watch", deadline=deadline, abort=self.ctx.abort)
        except Exception as exc:
            if self.ctx.abort.is_set():
                raise AbortedError(self._left_behind("aborted while waiting for the replacement")) from None
            if fault_of(exc) is None:
                raise
            what = f"lost the API server while waiting for the replacement ({describe(exc)})"
            raise PermanentError(self._left_behind(what)) from None

    def _relist(self) -> str:
        resp = self.ctx.kube.core.list_node(_preload_content=False, _request_timeout=self.ctx.kube.timeout)
        body = json.loads(resp.data)
        self.nodes = {n["metadata"]["uid"]: n for n in body.get("items") or []}
        return str(body["metadata"]["resourceVersion"])

    def _watch(self, rv: str, window: int, started: float) -> str:
        """Apply Node events for up to ``window`` seconds; stop early when a replacement is Ready."""
        w = self.watch_factory()
        try:
            for event in w.stream(
                self.ctx.kube.core.list_node,
                resource_version=rv,
                timeout_seconds=window,
                allow_watch_bookmarks=True,
                _request_timeout=window + self.ctx.kube.timeout,
            ):
                kind, obj = event["type"], event["raw_object"]
                if kind == "ERROR":
                    return self._relist()
                rv = str(obj["metadata"].get("resourceVersion") or rv)
                if kind == "DELETED":
                    self.nodes.pop(obj["metadata"]["uid"], None)
                elif kind in ("ADDED", "MODIFIED"):
                    self.nodes[obj["metadata"]["uid"]] = obj
                if self.ctx.abort.is_set() or (kind != "BOOKMARK" and self._candidate(started) is not None):
                    break
        except ApiException as exc:
            if exc.status == 410:  # our resourceVersion is too old: list again
                return self._relist()
            raise
        finally:
            w.stop()
        return rv

    # -- what counts --------------------------------------------------------------------------
    def _poll_group(self, deadline: float) -> None:
        ref = self.ref
        assert ref is not None
        self._last_poll = time.monotonic()
        # A read: retried when the cloud says "later" (TemporaryError, honouring its delay).
        self.group = self.ctx.kube.retry.call(
            lambda: cloud_groups(self.ctx, ref).group(ref, str(self.record["group_name"])),
            what="poll the node group",
            retry_on=lambda exc: isinstance(exc, TemporaryError),
            deadline=deadline,
            abort=self.ctx.abort,
        )

    def _candidate(self, started: float) -> Found | None:
        ids = self.group.ids() if self.group else set()
        self._registered = None
        for uid, node in self.nodes.items():
            if uid in self.before:
                continue
            if not node_in_group(self.ref, self.nodepool, node, ids):
                if self.ref is not None and self.ref.provider == "aws" and self._is_aws(node):
                    self._last_poll = min(self._last_poll, time.monotonic() - self.poll_seconds + 1.0)
                continue
            instance = self._instance_of(node)
            if node_state(node).ready:
                return Found(node["metadata"]["name"], instance, time.monotonic() - started)
            self._registered = node["metadata"]["name"]
        return None

    @staticmethod
    def _is_aws(node: Obj) -> bool:
        try:
            return parse_provider_id((node.get("spec") or {}).get("providerID")).provider == "aws"
        except UserError:
            return False

    @staticmethod
    def _instance_of(node: Obj) -> str | None:
        try:
            return parse_provider_id((node.get("spec") or {}).get("providerID")).instance_id
        except UserError:
            return None

    def _status(self) -> str:
        parts = []
        if self.group is not None:
            new = sorted(self.group.ids() - self.instances_before)
            parts.append(
                f"{self.group.kind} {self.group.name} {self.group.in_service}/{self.group.desired} in service"
                + (f", new instance {', '.join(new)}" if new else ", no new instance yet")
            )
        elif self.nodepool is not None:
            parts.append(f"Karpenter NodePool {self.nodepool}")
        parts.append(
            f"node {self._registered} registered, not Ready yet" if self._registered else "no new node registered yet"
        )
        return "; ".join(parts)

    def _left_behind(self, what: str) -> str:
        node, group = self.record["node"], self.record.get("group", "its group")
        return (
            f"{what}. The instance of node {node} was already terminated and {group} launches its replacement; "
            f"the old Node object {node} was not deleted"
        )
