"""Flagger owns the app: its analysis moves the weight, so the bot reads it and refuses to write.

Setting a weight by hand would fight Flagger's controller (it resets the route at its next
check). The refusal says how to act through Flagger's own interface instead.
"""

from __future__ import annotations

from typing import ClassVar

from bot.clients.kube import KubeAccess
from bot.errors import UserError
from bot.model import ObjectRef, Permission, Weights
from bot.steps.canary.driver import Action, Proposal, RuleWeights, Split, Target
from bot.steps.canary.objects import FLAGGER_CANARY, get_object


class FlaggerCanary:
    """Read-only: status from the Canary resource; changes refused with the command to use."""

    router: ClassVar[str] = "flagger"

    def read_permissions(self, target: Target) -> list[Permission]:
        """get on the Canary."""
        return [FLAGGER_CANARY.permission("get", target.namespace, target.route)]

    def read(self, kube: KubeAccess, target: Target) -> Split:
        """``status.canaryWeight`` and ``status.phase``."""
        obj = get_object(kube, FLAGGER_CANARY, target.version, target.namespace, target.route)
        status = obj.get("status") or {}
        weight = int(status.get("canaryWeight") or 0)
        rule = RuleWeights(f"Flagger Canary {target.route}", 100 - weight, weight)
        notes = [f"Flagger phase: {status.get('phase', 'unknown')}; its analysis moves the weight"]
        return Split(
            "flagger", ObjectRef(kind="Canary", name=target.route, namespace=target.namespace), [rule], notes, obj
        )

    def propose(self, kube: KubeAccess, target: Target, split: Split, action: Action, weights: Weights) -> Proposal:
        """Always refused: name Flagger's way of doing it."""
        ns, name = target.namespace, target.route
        skip = f'kubectl -n {ns} patch canary {name} --type merge -p \'{{"spec":{{"skipAnalysis":true}}}}\''
        if action == "abort":
            hint = (
                "Flagger rolls back when its analysis fails; to roll back now, open its rollback gate "
                f'(the load tester\'s `/rollback/open` webhook with {{"name":"{name}","namespace":"{ns}"}})'
            )
        elif action == "promote":
            hint = f"to promote without waiting for the analysis: `{skip}`"
        else:
            hint = (
                "Flagger sets the weight step by step (analysis.stepWeight up to maxWeight); "
                f"to promote without its analysis: `{skip}`"
            )
        raise UserError(
            f"{target.app} is managed by Flagger (Canary {ns}/{name}); the bot does not fight its controller", hint=hint
        )
