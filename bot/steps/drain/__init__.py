"""drain: kubectl drain's semantics as steps — filters (which pods), a PDB gate (when), a tracker
(gone yet?) and the eviction step itself (``kubernetes.evict_pods``)."""

from bot.steps.drain.evict import EvictParams, EvictPods

__all__ = ["EvictParams", "EvictPods"]
