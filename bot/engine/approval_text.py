"""The approval rule a plan falls under, in words: which rule (by its number), what it covers, who approves.

``needs 1 approval from group leads: rule 2 (destructive runbooks on env:production)`` tells the
requester why they wait and whom to ask, and the operator which rule of ``policies.approval_rules``
to change; ``no approval needed: no rule matches drain (destructive) on staging (env:staging)`` says
the opposite as plainly.
"""

from __future__ import annotations

from bot.config.settings import ApprovalRule, Settings


def _runbooks(patterns: list[str]) -> str:
    """``destructive runbooks``, ``change and destructive runbooks``, ``runbooks drain, scale``, ``every runbook``."""
    if "*" in patterns:
        return "every runbook"
    risks = [p.removeprefix("risk:") for p in patterns if p.startswith("risk:")]
    names = [p for p in patterns if not p.startswith("risk:")]
    parts = []
    if risks:
        parts.append(" and ".join(risks) + " runbooks")
    if names:
        parts.append(("runbook " if len(names) == 1 else "runbooks ") + ", ".join(names))
    return " or ".join(parts) or "no runbook"


def _clusters(patterns: list[str]) -> str:
    """``env:production``, ``cluster prod``, ``clusters prod, prod2``, ``every cluster``."""
    if "*" in patterns:
        return "every cluster"
    envs = [p for p in patterns if p.startswith("env:")]
    names = [p for p in patterns if not p.startswith("env:")]
    parts = list(envs)
    if names:
        parts.append(("cluster " if len(names) == 1 else "clusters ") + ", ".join(names))
    return " or ".join(parts) or "no cluster"


def describe_rule(rule: ApprovalRule) -> str:
    """What a rule covers: ``destructive runbooks on env:production``."""
    return f"{_runbooks(rule.runbooks)} on {_clusters(rule.clusters)}"


def _approvers(rule: ApprovalRule) -> str:
    who = [*rule.approvers.users, *(f"group {g}" for g in rule.approvers.groups)]
    return " or ".join(who) if who else "anyone mapped but the requester"


def _which(settings: Settings, rule: ApprovalRule) -> str:
    """``rule 2`` (its place in ``policies.approval_rules``), or ``the default rule`` when none are configured."""
    rules = settings.policies.approval_rules
    number = next((i for i, r in enumerate(rules, 1) if r is rule), None)
    if number is None:
        return "a rule"
    if "approval_rules" not in settings.policies.model_fields_set:
        return "the default rule"
    return f"rule {number}"


def approval_line(settings: Settings, rule: ApprovalRule, runbook: str, risk: str, cluster: str) -> str:
    """The approval a run needs and why, in one line (for the plan)."""
    env = settings.clusters[cluster].environment
    if rule.approvals:
        plural = "s" if rule.approvals > 1 else ""
        return (
            f"needs {rule.approvals} approval{plural} from {_approvers(rule)}: "
            f"{_which(settings, rule)} ({describe_rule(rule)})"
        )
    if any(r is rule for r in settings.policies.approval_rules):
        return f"no approval needed: {_which(settings, rule)} ({describe_rule(rule)}) asks for none"
    return f"no approval needed: no approval rule matches {runbook} ({risk}) on {cluster} (env:{env})"
