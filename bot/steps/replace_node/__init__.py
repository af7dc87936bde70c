"""replace-node: resolve a node to its cloud instance and group (``target``), claim the group
(``claims``), terminate, wait for the replacement (``wait``) and delete the old Node (``steps``)."""

from bot.steps.replace_node.steps import ClaimGroup, DeleteNode, TerminateInstance, WaitReplacementNode

__all__ = ["ClaimGroup", "DeleteNode", "TerminateInstance", "WaitReplacementNode"]
