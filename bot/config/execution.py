"""How runs execute (``execution:``) and how long the store keeps what it records (``store.retention``).

Runs execute on their own bounded pool, never on the threads that acknowledge Slack: ``workers``
runs at once per process, up to ``queue`` more waiting (beyond that a decision is refused with
"try again"), and at most ``per_user`` of them executing for one person. The process executing a
run owns it and heart-beats it every ``heartbeat_seconds``; any replica takes over (or marks
interrupted) a run whose heartbeat is older than ``stale_after_seconds``, checking every
``recover_every_seconds``. On SIGTERM, running steps get ``shutdown_grace_seconds`` to reach a safe
point (the Helm chart's ``terminationGracePeriodSeconds`` leaves room for it).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ExecutionSettings(BaseModel):
    """The run executor, run ownership and graceful shutdown."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(8, ge=1, le=64, description="runs executing at once in one process")
    queue: int = Field(32, ge=0, le=1000, description="runs waiting for a worker before new ones are refused")
    per_user: int = Field(3, ge=1, le=64, description="runs one person may have executing at once")
    heartbeat_seconds: float = Field(5.0, gt=0, le=60, description="how often the owner stamps its runs")
    stale_after_seconds: float = Field(30.0, gt=0, le=3600, description="a run not stamped this long is taken over")
    recover_every_seconds: float = Field(10.0, gt=0, le=600, description="how often each replica looks for them")
    shutdown_grace_seconds: float = Field(25.0, ge=0, le=3600, description="time for steps to stop on SIGTERM")

    @model_validator(mode="after")
    def _stale_after_beats(self) -> ExecutionSettings:
        if self.stale_after_seconds < 3 * self.heartbeat_seconds:
            raise ValueError(
                "stale_after_seconds must be at least 3 × heartbeat_seconds, so one late heartbeat never "
                "makes a live run look dead"
            )
        return self


class RetentionSettings(BaseModel):
    """How long finished runs (with their approvals), audit events and resolved alerts are kept (0 = forever)."""

    model_config = ConfigDict(extra="forbid")

    runs_days: int = Field(180, ge=0, le=3650)
    audit_days: int = Field(365, ge=0, le=3650)
    alerts_days: int = Field(90, ge=0, le=3650)
    purge_every_hours: float = Field(6.0, gt=0, le=168, description="how often the leader purges")
