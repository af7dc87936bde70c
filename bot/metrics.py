"""Prometheus metrics. Defined once here; the HTTP surface exposes them on /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
HEALTH_SWEEP_SECONDS = Histogram(
    "runbook_bot_health_sweep_seconds",
    "Time to read one cluster and evaluate every health check",
    ["cluster"],
    registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
ALERT_EVENTS = Counter(
    "runbook_bot_alert_events_total",
    "Alert notifications, by check, severity and event (fired, renotified, resolved)",
    ["check", "severity", "event"],
    registry=REGISTRY,
)
HEALTH_LEADER = Gauge(
    "runbook_bot_health_leader", "1 while this replica holds the health-check lease", registry=REGISTRY
)
API_RETRIES = Counter(
    "runbook_bot_api_retries_total",
    "Kubernetes API calls retried, by fault (connect, transport, server, temporary)",
    ["fault"],
    registry=REGISTRY,
)
