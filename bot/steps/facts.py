"""Moved to ``bot.kube_facts`` (below the health checks, which need it too).

Kept only for the replace-node modules until they are re-homed in issue 9's
``bot/steps/replace_node/`` package; import ``bot.kube_facts`` in new code.
"""

from bot.kube_facts import Obj, node_state

__all__ = ["Obj", "node_state"]
