"""Retention: finished runs, audit events and resolved alerts older than ``store.retention`` are purged.

Every serving replica runs the purge every ``purge_every_hours``; deleting what is already gone
deletes nothing, so replicas need no coordination. Each purge that removed something is audited.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from bot.engine.ledger import RunLedger

log = logging.getLogger("bot.retention")


def _cutoff(now: datetime, days: int) -> datetime | None:
    return now - timedelta(days=days) if days > 0 else None


class Retention:
    """Purges the store on a timer (``start``) or once (``purge_once``)."""

    def __init__(self, ledger: RunLedger) -> None:
        self.ledger = ledger
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def purge_once(self) -> dict[str, int]:
        """Delete what the retention settings no longer keep; the counts deleted."""
        r = self.ledger.settings.store.retention
        now = self.ledger.clock()
        counts = self.ledger.store.purge(
            runs_before=_cutoff(now, r.runs_days),
            audit_before=_cutoff(now, r.audit_days),
            alerts_before=_cutoff(now, r.alerts_days),
        )
        if any(counts.values()):
            summary = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items() if n)
            self.ledger.audit(None, "bot", "purged", f"retention: deleted {summary}", **counts)
        return counts

    def start(self) -> None:
        """Purge now and then every ``purge_every_hours``, until ``stop``."""
        every = self.ledger.settings.store.retention.purge_every_hours * 3600
        self._thread = threading.Thread(target=self._loop, args=(every,), name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the timer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self, every: float) -> None:
        while not self._stop.is_set():
            try:
                self.purge_once()
            except Exception:
                log.warning("retention purge failed this round", exc_info=True)
            self._stop.wait(every)
