"""The plan hash: what an approval is bound to.

SHA-256 over what the run will do — runbook, cluster, namespace, the validated values and every
step's parameters, targets and fingerprint (the material facts its plan names: node UID, instance
id...). Ordinary churn that does not change those facts keeps the hash; anything that would make
the approved plan a different plan changes it, and the run stops to ask again. A step that changes
what its own plan read (a guarded canary progression moves the weights) leaves that out of its
fingerprint, so the run still matches after a takeover (``bot/steps/canary/guarded.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from bot.engine.params import WorkloadName
from bot.model import Weights
from bot.steps.base import StepPlan


class _Planned(Protocol):
    """A planned step (``engine.PlannedStep``): its step's name, validated parameters and plan."""

    @property
    def params(self) -> BaseModel: ...

    @property
    def plan(self) -> StepPlan: ...

    @property
    def step(self) -> Any: ...


def _norm(v: Any) -> Any:
    if isinstance(v, Weights | WorkloadName):
        return str(v)
    if hasattr(v, "model_dump"):
        return v.model_dump(mode="json")
    if hasattr(v, "total_seconds"):
        return v.total_seconds()
    return v


def plan_hash(runbook: str, cluster: str, namespace: str, values: Mapping[str, Any], steps: Sequence[_Planned]) -> str:
    """SHA-256 (hex) over what the run will do."""
    doc = {
        "runbook": runbook,
        "cluster": cluster,
        "namespace": namespace,
        "values": {k: _norm(v) for k, v in sorted(values.items())},
        "steps": [
            {
                "step": s.step.name,
                "params": s.params.model_dump(mode="json"),
                "targets": [t.model_dump() for t in s.plan.targets],
                "fingerprint": s.plan.fingerprint,
            }
            for s in steps
        ],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
