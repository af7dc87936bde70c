"""Waiting for a replacement node: a list+watch of Nodes, group polls, progress, abort.

A node counts as the replacement when it did not exist (by UID) in the group before the
termination, belongs to the same group (same Karpenter NodePool / same VM scale set / an
instance the Auto Scaling group now holds) and reports Ready.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bot.clients.watch import ListWatch, Obj
from bot.cloud import InstanceRef, NodeGroup, parse_provider_id
from bot.errors import AbortedError, PermanentError, UserError
from bot.steps.base import StepContext
from bot.steps.facts import node_state
from bot.steps.replace_node.records import ReplacementRecord
from bot.steps.replace_node.target import cloud_groups, node_in_group

PROGRESS_SECONDS = 2.0


@dataclass(frozen=True)
class Found:
    """The replacement node, its instance (when known) and how long it took."""

    name: str
    instance: str | None
    seconds: float


class ReplacementWatch:
    """One wait for one replacement, driven by a Node list+watch and group polls."""

    def __init__(self, ctx: StepContext, record: ReplacementRecord) -> None:
        self.ctx = ctx
        self.record = record
        self.before = set(record.nodes_before) | {record.node_uid}
        self.ref: InstanceRef | None = parse_provider_id(record.provider_id) if record.provider_id else None
        self.instances_before = {i.lower() for i in record.instances_before}
        self.group: NodeGroup | None = None
        self.poll_seconds = ctx.cloud.cloud_settings(ctx.cluster).poll_seconds if ctx.cloud else 5.0
        self._last_poll = 0.0
        self._registered: str | None = None

    def wait(self, timeout: float) -> Found:
        """Return the Ready replacement; AbortedError on abort, PermanentError after ``timeout`` seconds."""
        started = time.monotonic()
        deadline = started + timeout
        stop = threading.Event()
        nodes = ListWatch(self.ctx.kube, self.ctx.kube.core.list_node, stop=stop, name="replacement-nodes").start()
        try:
            while True:
                if self.ctx.abort.is_set():
                    raise AbortedError(self._left_behind("aborted while waiting for the replacement"))
                now = time.monotonic()
                if self.ref is not None and now - self._last_poll >= self.poll_seconds:
                    self._poll_group()
                found = self._candidate(nodes.objects(), started)
                if found is not None:
                    return found
                if now >= deadline:
                    raise PermanentError(
                        self._left_behind(f"no replacement node became Ready within {timeout:.0f}s ({self._status()})")
                    )
                self.ctx.progress(f"waiting for the replacement: {self._status()} · {now - started:.0f}s")
                wake = min(deadline, now + PROGRESS_SECONDS)
                nodes.wait_until(
                    lambda: self.ctx.abort.is_set() or self._candidate(nodes.objects(), started) is not None, wake
                )
        finally:
            stop.set()
            nodes.close()

    def _poll_group(self) -> None:
        assert self.ref is not None
        self._last_poll = time.monotonic()
        self.group = cloud_groups(self.ctx, self.ref).group(self.ref, str(self.record.group_name))

    def _candidate(self, nodes: list[Obj], started: float) -> Found | None:
        ids = self.group.ids() if self.group else set()
        self._registered = None
        for node in nodes:
            if node["metadata"]["uid"] in self.before:
                continue
            if not node_in_group(self.ref, self.record.nodepool, node, ids):
                if self.ref is not None and self.ref.provider == "aws" and _provider(node) == "aws":
                    # An AWS node we cannot place yet: its instance may be new; poll the group soon.
                    self._last_poll = min(self._last_poll, time.monotonic() - self.poll_seconds + 1.0)
                continue
            if node_state(node).ready:
                return Found(node["metadata"]["name"], _instance_of(node), time.monotonic() - started)
            self._registered = node["metadata"]["name"]
        return None

    def _status(self) -> str:
        parts = []
        if self.group is not None:
            new = sorted(self.group.ids() - self.instances_before)
            parts.append(
                f"{self.group.kind} {self.group.name} {self.group.in_service}/{self.group.desired} in service"
                + (f", new instance {', '.join(new)}" if new else ", no new instance yet")
            )
        elif self.record.nodepool is not None:
            parts.append(f"Karpenter NodePool {self.record.nodepool}")
        parts.append(
            f"node {self._registered} registered, not Ready yet" if self._registered else "no new node registered yet"
        )
        return "; ".join(parts)

    def _left_behind(self, what: str) -> str:
        node, group = self.record.node, self.record.group
        return (
            f"{what}. The instance of node {node} was already terminated and {group} launches its replacement; "
            f"the old Node object {node} was not deleted"
        )


def _provider(node: Obj) -> str | None:
    try:
        return parse_provider_id((node.get("spec") or {}).get("providerID")).provider
    except UserError:
        return None


def _instance_of(node: Obj) -> str | None:
    try:
        return parse_provider_id((node.get("spec") or {}).get("providerID")).instance_id
    except UserError:
        return None
