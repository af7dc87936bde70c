"""``workloads:`` settings — guard rails of scale, and how logs are shown.

The seeds' on-call pages name workloads that must never run more than one replica
(``insights-loader``, ``kube-state-metrics``): two copies double-count or fight over a lock.
Quorum-based StatefulSets (etcd, ZooKeeper, Kafka…) need a warning before their size changes.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LogSettings(BaseModel):
    """``workloads.logs``: how many lines a message shows before the output becomes a file."""

    model_config = ConfigDict(extra="forbid")

    inline_lines: int = Field(40, ge=1, le=200, description="up to this many lines are shown in the message")
    inline_chars: int = Field(2500, ge=200, le=2800, description="…and up to this many characters")
    max_tail: int = Field(10_000, ge=1, le=100_000, description="the largest --tail accepted")
    max_pods: int = Field(10, ge=1, le=50, description="logs of a workload: at most this many pods")


class WorkloadSettings(BaseModel):
    """Guard rails for scale/restart and the logs runbook."""

    model_config = ConfigDict(extra="forbid")

    singletons: list[str] = Field(
        default_factory=lambda: ["insights-loader", "kube-state-metrics"],
        description="workload names never scaled above 1 replica (any namespace, or ns/name)",
    )
    quorum_names: list[str] = Field(
        default_factory=lambda: ["etcd", "zookeeper", "zk", "kafka", "consul", "vault", "nats", "rabbitmq"],
        description="StatefulSets whose name contains one of these are treated as quorum-based",
    )
    quorum_label: str = Field(
        "runbook-bot.io/quorum", description="…as are StatefulSets carrying this label with value true"
    )
    logs: LogSettings = Field(default_factory=LogSettings)

    def is_singleton(self, namespace: str, name: str) -> bool:
        """Is ``namespace/name`` a configured singleton (entries are ``name`` or ``ns/name``)?"""
        return name in self.singletons or f"{namespace}/{name}" in self.singletons
