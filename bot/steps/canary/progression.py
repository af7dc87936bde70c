"""Guarded progression, the pure part: the stages of ``canary web 90/10 --step 10 --every 5m --until 50/50``,
the stored state of a progression (``CanaryProgression``), and how its progress reads.

The start split is stage 1; each next stage moves ``step`` points of traffic to the canary until
``--until`` (the last stage may be a shorter step so it lands exactly there). A stage is due
``every`` after the previous one was applied. ``CanaryProgression`` is written before each weight
change (``applying``) and after it (``applied``, with the time the next stage is due), so a process
that takes the run over knows which stage was reached and never applies one twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from bot.durations import format_duration, human_duration
from bot.errors import UserError
from bot.model import Weights

MIN_EVERY = timedelta(seconds=30)
DEFAULT_EVERY = timedelta(minutes=5)
MIN_STEP, MAX_STEP = 1, 50
USAGE = "e.g. `canary web 90/10 --step 10 --every 5m --until 50/50` (90/10, 80/20, … 50/50, one stage every 5 minutes)"


@dataclass(frozen=True)
class Stages:
    """The stages of a progression, in order (the first is the start split), and the time between them."""

    splits: tuple[Weights, ...]
    every: timedelta
    step: int

    @property
    def total(self) -> int:
        """How many stages (the start split included)."""
        return len(self.splits)

    def texts(self) -> list[str]:
        """``["90/10", "80/20", …]``."""
        return [str(w) for w in self.splits]

    def schedule(self, start: datetime | None = None) -> list[str]:
        """One line per stage with when it is due (after the start; at ``start`` + n × every when given)."""
        lines = []
        for i, split in enumerate(self.splits):
            if i == 0:
                when = "at the start"
            else:
                when = f"{human_duration(self.every * i)} after the start"
                if start is not None:
                    when += f" (≈ {start + self.every * i:%H:%M} UTC if confirmed now)"
            lines.append(f"stage {i + 1}/{self.total}: {split} — {when}")
        return lines


def progression_stages(
    action: Weights | str, step: int | None, every: timedelta | None, until: Weights | None
) -> Stages | None:
    """The stages asked for; None without ``--step``/``--every``/``--until``; UserError naming the rule otherwise."""
    if step is None and every is None and until is None:
        return None
    if not isinstance(action, Weights):
        raise UserError(
            f"--step, --every and --until go with a starting split such as 90/10, not `{action}`", hint=USAGE
        )
    if step is None or until is None:
        missing = " and ".join(f"--{n}" for n, v in (("step", step), ("until", until)) if v is None)
        raise UserError(f"a progression needs {missing}", hint=USAGE)
    if not MIN_STEP <= step <= MAX_STEP:
        raise UserError(f"--step {step}: a stage moves {MIN_STEP} to {MAX_STEP} points of traffic", hint=USAGE)
    every = DEFAULT_EVERY if every is None else every
    if every < MIN_EVERY:
        raise UserError(
            f"--every {format_duration(every)} is too short: stages must be at least "
            f"{format_duration(MIN_EVERY)} apart, so the canary's pods have time to show trouble",
            hint=USAGE,
        )
    if until.canary <= action.canary:
        raise UserError(
            f"--until {until} cannot be reached from {action}: a progression moves traffic toward the canary "
            f"({step} points per stage), so --until must send it more than {action.canary}%",
            hint=USAGE,
        )
    splits = [action]
    canary = action.canary
    while canary < until.canary:
        canary = min(canary + step, until.canary)
        splits.append(Weights(100 - canary, canary))
    return Stages(tuple(splits), every, step)


Status = Literal["applying", "applied", "rolled_back", "aborted", "done"]


class CanaryProgression(BaseModel):
    """A progression's stored state (a run artifact), written before and after each weight change."""

    stages: list[str]
    every_seconds: float
    stage: int = 0  # the stage applied, or being applied (1-based); 0 before the first
    status: Status = "applying"
    weights: str = ""  # the split of ``stage``
    applied_at: datetime | None = None
    next_at: datetime | None = None  # when the next stage is due (None after the last)
    paused: bool = False  # the run's Pause, as the step last saw it
    baseline: dict[str, int] = Field(default_factory=dict)  # canary pod UID → restarts when the progression began
    reason: str = ""  # why it rolled back or stopped

    @property
    def total(self) -> int:
        """How many stages."""
        return len(self.stages)

    def next_split(self) -> str | None:
        """The split of the next stage, or None after the last."""
        return self.stages[self.stage] if self.stage < self.total else None

    def line(self, now: datetime | None = None) -> str:
        """``stage 2/5: 80/20 · next 70/30 at 14:05 UTC`` (or paused — saying so once overdue at ``now`` —
        or watching the last stage, or complete)."""
        head = f"stage {self.stage}/{self.total}: {self.weights}"
        if self.status == "done":
            return f"{head} · progression complete"
        shown = "%H:%M" if self.every_seconds >= 60 else "%H:%M:%S"
        due = f"{self.next_at.strftime(shown)} UTC" if self.next_at else "soon"
        overdue = now is not None and self.next_at is not None and now >= self.next_at
        upcoming = self.next_split()
        what = f"{upcoming}" if upcoming else "the end of the progression"
        if self.paused:
            return f"{head} · paused: {what} {'was due' if overdue else 'due'} at {due}, held until Resume"
        if upcoming is None:
            return f"{head} · watching the canary until {due}, then done"
        return f"{head} · next {upcoming} at {due}"

    def applied(self) -> list[str]:
        """``stage 1/5 (90/10) applied``, … for every stage reached (the run's account)."""
        reached = self.stage if self.status != "applying" else self.stage - 1
        return [f"stage {i}/{self.total} ({self.stages[i - 1]}) applied" for i in range(1, reached + 1)]

    def pending(self) -> list[str]:
        """``stage 3/5 (70/30)``, … for every stage not reached."""
        reached = self.stage if self.status != "applying" else self.stage - 1
        return [f"stage {i}/{self.total} ({self.stages[i - 1]})" for i in range(reached + 1, self.total + 1)]
