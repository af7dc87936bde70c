"""The step contract: every executor plans without side effects, then runs.

``plan()`` says what would happen, which objects it touches and which Kubernetes permissions
it needs; the engine plans every step before anything runs, and the plan is what users confirm
and approvers approve. ``run()`` does it, reporting progress and honouring abort.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, Field

from bot.model import ObjectRef, Permission, Requester, WorkloadRef
from bot.report import Report
from bot.steps.artifacts import RunArtifacts, RunHold

if TYPE_CHECKING:
    from bot.clients.kube import KubeAccess
    from bot.cloud import CloudClients
    from bot.config.settings import Settings
    from bot.store import Store


@dataclass
class StepPlan:
    """What a step would do. ``fingerprint`` holds the material facts the plan hash binds."""

    description: str
    targets: list[ObjectRef] = field(default_factory=list)
    permissions: list[Permission] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    mutates: bool = False
    # What this plan does can differ from the runbook's declared risk: `scale web 0` is destructive,
    # `canary web status` only reads. None keeps the runbook's risk (see PreparedRun.risk).
    risk: Literal["read", "change", "destructive"] | None = None
    # The step resumes from its stored artifacts: when its process dies mid-step, another replica's
    # recovery takes the run over and runs the step again, and it carries on without repeating what
    # it did (a canary progression). False: the run is marked interrupted, as every run used to be.
    resumable: bool = False
    # The step honours Pause/Resume (``StepContext.hold``) between its actions.
    pausable: bool = False


@dataclass(frozen=True)
class RunbookInfo:
    """What help and whoami show about one runbook."""

    name: str
    summary: str
    usage: str
    risk: str
    params_help: tuple[str, ...]
    permissions: tuple[Permission, ...]


class Catalog(Protocol):
    """The engine's view of the runbooks and clusters, given to help/whoami steps."""

    def runbook_infos(self) -> Sequence[RunbookInfo]:
        """Every loaded runbook, sorted by name."""
        ...

    def cluster_names(self) -> Sequence[str]:
        """Configured cluster names."""
        ...

    def missing_permissions(
        self, cluster: str, requester: Requester, permissions: Sequence[Permission]
    ) -> list[Permission]:
        """The permissions from ``permissions`` that ``requester`` lacks on ``cluster``."""
        ...


@dataclass
class StepContext:
    """Everything a step may use. ``kube`` is already impersonating the requester."""

    run_id: str
    cluster: str
    namespace: str
    requester: Requester
    kube: KubeAccess
    catalog: Catalog
    namespace_explicit: bool = False
    store: Store | None = None
    settings: Settings | None = None  # the bot's settings (health thresholds, backups...)
    cloud: CloudClients | None = None  # cloud clients (replace-node); they act as the bot's cloud identity
    progress: Callable[[str], None] = lambda _msg: None
    abort: threading.Event = field(default_factory=threading.Event)
    step_index: int = 0  # which step of the run is executing (set by the executor)
    planned: StepPlan | None = None  # the executing step's plan, as approved (set by the executor)
    # The run's clock (RunService.clock): steps that wait for a time read it, so tests can move it.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Set by the executor: stamps the run's heartbeat and says whether this process still owns the run
    # (False once another replica took it over). Resumable steps ask before every write.
    owns_run: Callable[[], bool] = lambda: True
    # Set by the executor: True when ``abort`` was raised because this process stops executing the run
    # (shutting down, or the run was taken over), not because a person aborted it.
    handing_over: Callable[[], bool] = lambda: False
    artifacts: RunArtifacts = field(init=False)

    def __post_init__(self) -> None:
        self.artifacts = RunArtifacts(self.run_id, self.store)

    def approved(self, key: str) -> Any:
        """A fact the executing step's approved plan bound (its ``fingerprint[key]``), or None.

        Destructive steps act on exactly what was approved: the node, instance or pod UID the plan
        named, not whatever carries that name when the step finally runs.
        """
        return (self.planned.fingerprint if self.planned else {}).get(key)

    def hold(self) -> RunHold | None:
        """The run's Pause/Resume as last clicked (None: never paused)."""
        return self.artifacts.get(RunHold)

    def account(self, done: Sequence[str], not_done: Sequence[str]) -> None:
        """Keep the running step's account current: what it has done and what it has not (yet).

        If the run fails, is aborted or its process dies, the outcome reports exactly this.
        """
        self.artifacts.put(StepAccount(done=list(done), not_done=list(not_done)), step_key(self.step_index))


class StepAccount(BaseModel):
    """What one step of a run has done so far and what it has not (its own words, e.g. pods)."""

    done: list[str] = Field(default_factory=list)
    not_done: list[str] = Field(default_factory=list)


def step_key(index: int) -> str:
    """The artifact key of step ``index``'s account."""
    return f"step-{index}"


P = TypeVar("P", bound=BaseModel)


class Step(Generic[P]):
    """Base class of executors. Subclasses set ``name`` and ``Params`` and implement both halves."""

    name: ClassVar[str]
    Params: type[P]
    summary: ClassVar[str] = ""
    # How plan() asks more or narrower permissions than static_permissions for a concrete target,
    # in words for `runbook-bot steps` (empty: the plan asks exactly the static permissions).
    permissions_note: ClassVar[str] = ""

    def static_permissions(self, params: P | None) -> list[Permission]:
        """Permissions needed independent of targets (used by whoami); default from a plan-free view."""
        return []

    def plan(self, ctx: StepContext, params: P) -> StepPlan:
        """Describe what ``run`` would do. Must not change anything."""
        raise NotImplementedError

    def run(self, ctx: StepContext, params: P) -> Report | None:
        """Do it; return what to tell the user (None for nothing beyond the plan)."""
        raise NotImplementedError


__all__ = [
    "Catalog",
    "ObjectRef",
    "Permission",
    "Requester",
    "RunbookInfo",
    "Step",
    "StepAccount",
    "StepContext",
    "StepPlan",
    "WorkloadRef",
]
