"""Node triage: ``findings`` (pure: what the node's state means and what to run) and ``step``."""

from bot.steps.triage.step import TriageNode

__all__ = ["TriageNode"]
