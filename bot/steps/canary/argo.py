"""Argo Rollouts owns the app: drive the Rollout the way ``kubectl argo rollouts`` does.

The Rollout's controller sets the weight from ``spec.strategy.canary.steps``; the bot never
writes the route itself. Its documented interface, as the plugin uses it:

- set weight → move to the step that sets it: ``status.currentStepIndex`` with the pause
  conditions cleared (what ``promote`` does one step at a time) — only forward, only to a
  weight one of the steps names;
- promote → ``status.promoteFull: true`` (``promote --full``: 100% to the new version);
- abort → ``status.abort: true`` (``abort``: 100% back to stable).
A paused Rollout (``spec.paused``) is un-paused, as the plugin does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from bot.clients.kube import KubeAccess
from bot.errors import UserError
from bot.model import ObjectRef, Permission, Weights
from bot.steps.canary.driver import Action, Proposal, RuleWeights, Split, Target, Write
from bot.steps.canary.objects import ROLLOUT, Obj, get_object, merge_patch


def steps_of(rollout: Obj) -> list[Obj]:
    """The canary steps (empty for blue-green or a canary without steps)."""
    return list((((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}).get("steps") or [])


def in_progress(rollout: Obj) -> bool:
    """An update is under way: the current pod template is not the stable one."""
    status = rollout.get("status") or {}
    return bool(status.get("currentPodHash")) and status.get("currentPodHash") != status.get("stableRS")


def canary_weight(rollout: Obj) -> int:
    """The canary's weight as the controller computes it (``GetCurrentSetWeight``) or reports it."""
    status = rollout.get("status") or {}
    if status.get("abort") or not in_progress(rollout):
        return 0
    reported = ((status.get("canary") or {}).get("weights") or {}).get("canary") or {}
    if isinstance(reported.get("weight"), int):
        return int(reported["weight"])
    steps = steps_of(rollout)
    index = int(status.get("currentStepIndex") or 0)
    if index >= len(steps):
        return 100
    for step in reversed(steps[: index + 1]):
        if isinstance(step.get("setWeight"), int):
            return int(step["setWeight"])
    return 0


class ArgoRollout:
    """The Rollout's status interface."""

    router: ClassVar[str] = "argo"

    def read_permissions(self, target: Target) -> list[Permission]:
        """get on the Rollout."""
        return [ROLLOUT.permission("get", target.namespace, target.route)]

    def read(self, kube: KubeAccess, target: Target) -> Split:
        """The weight the Rollout's current step sets (or the controller reports)."""
        obj = get_object(kube, ROLLOUT, target.version, target.namespace, target.route)
        status = obj.get("status") or {}
        weight = canary_weight(obj)
        steps = steps_of(obj)
        index = int(status.get("currentStepIndex") or 0)
        notes = []
        if not in_progress(obj):
            notes.append("no update in progress: every pod runs the stable version")
        elif status.get("abort"):
            notes.append("the Rollout is aborted: all traffic is back on stable")
        else:
            notes.append(
                f"at step {min(index, len(steps))} of {len(steps)}; weights set by its steps: {_weights(steps)}"
            )
        if (obj.get("spec") or {}).get("paused") or status.get("pauseConditions"):
            notes.append("the Rollout is paused")
        rule = RuleWeights(f"Rollout {target.route}", 100 - weight, weight)
        keys = ("currentStepIndex", "abort", "promoteFull", "stableRS", "currentPodHash")
        return Split(
            "argo",
            ObjectRef(kind="Rollout", name=target.route, namespace=target.namespace),
            [rule],
            notes,
            raw=obj,
            fingerprint={"uid": obj["metadata"].get("uid"), **{k: status.get(k) for k in keys}},
        )

    def propose(self, kube: KubeAccess, target: Target, split: Split, action: Action, weights: Weights) -> Proposal:
        """The status patch that makes the controller apply the request."""
        obj = split.raw
        before = split.rules[0]
        if not in_progress(obj):
            if action == "abort":
                return Proposal([before], [before], warnings=["no update in progress: there is nothing to abort"])
            raise UserError(
                f"Rollout {target.where} has no update in progress",
                hint="Argo Rollouts starts a canary when the pod template changes "
                f"(`kubectl argo rollouts set image {target.route} …`)",
            )
        status: dict[str, Any]
        if action == "promote":
            status = {"promoteFull": True}
            what = f"the full promotion of Rollout {target.where} (kubectl argo rollouts promote --full)"
        elif action == "abort":
            status = {"abort": True}
            what = f"the abort of Rollout {target.where} (kubectl argo rollouts abort)"
        else:
            status, what = self._step_to(target, obj, weights)
        after = RuleWeights(before.where, weights.stable, weights.canary)
        proposal = Proposal([before], [after], warnings=self._warnings(obj, status))
        if before == after and action == "set":
            return proposal
        proposal.writes.append(_status_write(target, status, what))
        if (obj.get("spec") or {}).get("paused"):
            proposal.writes.append(_unpause_write(target))
        return proposal

    def _step_to(self, target: Target, obj: Obj, weights: Weights) -> tuple[dict[str, Any], str]:
        steps = steps_of(obj)
        index = int((obj.get("status") or {}).get("currentStepIndex") or 0)
        for j in range(index, len(steps)):
            if steps[j].get("setWeight") == weights.canary:
                what = f"moving Rollout {target.where} to step {j + 1} (setWeight {weights.canary})"
                return {"currentStepIndex": j, "pauseConditions": None}, what
        raise UserError(
            f"Rollout {target.where} sets its weights by its steps, and none ahead of step {index + 1} "
            f"sets the canary to {weights.canary}%",
            hint=f"its steps set {_weights(steps)}; use one of those, `canary {target.app} promote` or "
            f"`canary {target.app} abort` — or change spec.strategy.canary.steps where the Rollout is defined",
        )

    @staticmethod
    def _warnings(obj: Obj, status: dict[str, Any]) -> list[str]:
        if "currentStepIndex" not in status:
            return []
        steps = steps_of(obj)
        following = status["currentStepIndex"] + 1
        if following < len(steps) and "pause" not in steps[following]:
            return [
                f"step {following + 1} is not a pause: the Rollout moves on by itself ({_step_text(steps[following])})"
            ]
        return []


def _weights(steps: list[Obj]) -> str:
    found = [str(s["setWeight"]) + "%" for s in steps if isinstance(s.get("setWeight"), int)]
    return ", ".join(found) or "no weights"


def _step_text(step: Obj) -> str:
    return ", ".join(f"{k} {v}" for k, v in step.items())


def _status_write(target: Target, status: dict[str, Any], what: str) -> Write:
    return Write(
        what=what,
        submit=lambda k, dry: merge_patch(
            k, ROLLOUT, target.version, target.namespace, target.route, {"status": status}, dry, status=True
        ),
        permissions=[ROLLOUT.permission("patch", target.namespace, target.route, subresource="status")],
        target=ObjectRef(kind="Rollout", name=target.route, namespace=target.namespace),
    )


def _unpause_write(target: Target) -> Write:
    return Write(
        what=f"un-pausing Rollout {target.where} (spec.paused → false)",
        submit=lambda k, dry: merge_patch(
            k, ROLLOUT, target.version, target.namespace, target.route, {"spec": {"paused": False}}, dry
        ),
        permissions=[ROLLOUT.permission("patch", target.namespace, target.route)],
        target=ObjectRef(kind="Rollout", name=target.route, namespace=target.namespace),
    )
