"""A drain's live progress: evicted, waiting on which PDB, failed — shown in the run message and kept as
the step's account (``StepAccount``) for failure, abort and recovery reports."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bot.steps.drain.account import drain_account
from bot.steps.drain.filters import Obj


@dataclass
class DrainProgress:
    """Counts and reasons, shared by the eviction threads (under ``lock``)."""

    total: int
    evicted: int = 0
    waiting: dict[str, str] = field(default_factory=dict)  # pod → PDB it waits on
    failed: dict[str, str] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)  # pods whose eviction the API server accepted, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, key: str, why: str) -> None:
        """``key`` failed for good."""
        with self.lock:
            self.waiting.pop(key, None)
            self.failed[key] = why

    def wait_on(self, key: str, pdbs: list[Obj]) -> None:
        """``key`` waits for one of ``pdbs`` to allow a disruption."""
        with self.lock:
            self.waiting[key] = ", ".join(p["metadata"]["name"] for p in pdbs) or "(API throttle)"

    def accepted(self, key: str) -> None:
        """The API server accepted ``key``'s eviction."""
        with self.lock:
            self.evicted += 1
            self.gone.append(key)

    def evicted_pods(self) -> list[str]:
        """The pods whose eviction the API server accepted, in order (``ns/name``)."""
        with self.lock:
            return list(self.gone)

    def account(self, node: str, pods: list[str]) -> tuple[list[str], list[str]]:
        """(done, not done) lines for the run's account: pods evicted, and pods still on the node."""
        gone = self.evicted_pods()
        left = [k for k in pods if k not in set(gone)]
        return drain_account(node, gone, len(pods), left, fresh=True)

    def line(self) -> str:
        with self.lock:
            text = f"evicted {self.evicted}/{self.total} pods"
            if self.waiting:
                by_pdb: dict[str, int] = {}
                for pdb in self.waiting.values():
                    by_pdb[pdb] = by_pdb.get(pdb, 0) + 1
                text += " · waiting on " + ", ".join(
                    f"PDB {p} for {n} pod{'s' if n > 1 else ''}" for p, n in sorted(by_pdb.items())
                )
            if self.failed:
                text += f" · {len(self.failed)} failed"
            return text
