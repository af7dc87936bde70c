"""Prometheus metrics. Defined once here; the HTTP surface exposes them on /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

COMMANDS = Counter(
    "runbook_bot_commands_total", "Commands received, by runbook and outcome", ["runbook", "outcome"], registry=REGISTRY
)
RUN_SECONDS = Histogram(
    "runbook_bot_run_seconds",
    "Time from command to final answer, by runbook",
    ["runbook"],
    registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
