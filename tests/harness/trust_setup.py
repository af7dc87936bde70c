"""A cast of users and RBAC for the trust tests (approvals, break-glass, denials)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from bot.config.settings import Settings
from tests.harness.control_plane import CONTEXT
from tests.harness.rbac import READ_RULES, bind_cluster_role, ensure_cluster_role

# Slack user ID → (Kubernetes user, groups)
CAST: dict[str, tuple[str, list[str]]] = {
    "U0ALICE": ("alice", ["oncall", "sre"]),  # requester with RBAC
    "U0BOB": ("bob", ["sre", "leads"]),  # approver in the set, with RBAC
    "U0ERIN": ("erin", ["sre", "leads"]),  # a second approver
    "U0CAROL": ("carol", ["leads"]),  # in the approver set, without RBAC
    "U0DAVE": ("dave", ["sre"]),  # has RBAC, not an approver
    "U0MALLORY": ("mallory", ["interns"]),  # may read, may not patch nodes
    "U0GLASS": ("gwen", ["sre", "breakglass"]),  # may break glass
    "U0ALICE2": ("alice", ["leads"]),  # alice's second Slack account (in the approver set)
    "U0BOB2": ("bob", ["sre", "leads"]),  # bob's second Slack account
    "U0NOBODY": ("nobody", ["nobodies"]),  # may do nothing at all, not even read
}
# Slack user ID → the display name users.info answers (the names people read in messages)
DISPLAY_NAMES = {
    "U0ALICE": "Alice Doe",
    "U0BOB": "Bob Builder",
    "U0ERIN": "Erin Lead",
    "U0CAROL": "Carol Lead",
    "U0DAVE": "Dave Ops",
    "U0MALLORY": "Mallory Intern",
    "U0GLASS": "Gwen Glass",
    "U0ALICE2": "Alice Doe (leads account)",
    "U0BOB2": "Bob Builder (second account)",
    "U0NOBODY": "No Body",
}


def slack_users() -> dict[str, dict[str, Any]]:
    """users.info answers for the cast (FakeSlack.users): members of the bot's own workspace."""
    return {
        uid: {"id": uid, "name": user, "real_name": DISPLAY_NAMES[uid], "profile": {"display_name": DISPLAY_NAMES[uid]}}
        for uid, (user, _) in CAST.items()
    }


NODE_OPERATOR = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get"]},
]

# policies.access.alerts (default): Ack and Silence, and the alerts on the App Home
ALERT_RESPONDER = [{"apiGroups": ["runbook-bot.io"], "resources": ["alerts"], "verbs": ["update"]}]


def grant(api: client.ApiClient) -> None:
    """sre may operate nodes and pods and act on alerts; everyone in the cast may read."""
    ensure_cluster_role(api, "runbook-read", READ_RULES)
    ensure_cluster_role(api, "node-operator", NODE_OPERATOR)
    ensure_cluster_role(api, "alert-responder", ALERT_RESPONDER)
    for group in ("sre", "leads", "interns", "oncall"):
        bind_cluster_role(api, "runbook-read", group=group)
    bind_cluster_role(api, "node-operator", group="sre")
    bind_cluster_role(api, "alert-responder", group="sre")


def settings_doc(kubeconfig: Path, store_url: str, audit_channel: str | None = None) -> dict[str, Any]:
    """Three names for one API server: staging (no approval), prod (1 of leads), prod2 (2 of leads)."""
    cluster = {"kubeconfig": str(kubeconfig), "context": CONTEXT}
    return {
        "clusters": {
            "staging": {**cluster, "environment": "staging", "channels": ["C0STAGING"]},
            "prod": {**cluster, "environment": "production", "channels": ["C0PROD"]},
            "prod2": {**cluster, "environment": "production"},
        },
        "default_cluster": "staging",
        "identity": {"users": {k: {"user": u, "groups": g} for k, (u, g) in CAST.items()}},
        "store": {"url": store_url},
        "policies": {
            "approval_rules": [
                {"runbooks": ["*"], "clusters": ["prod2"], "approvals": 2, "approvers": {"groups": ["leads"]}},
                {
                    "runbooks": ["risk:change", "risk:destructive"],
                    "clusters": ["prod"],
                    "approvals": 1,
                    "approvers": {"groups": ["leads"]},
                    "expires_minutes": 15,
                },
            ],
            "break_glass": {"groups": ["breakglass"], "min_reason_length": 10},
        },
        "slack": {"audit_channel": audit_channel} if audit_channel else {},
        "log_format": "text",
    }


def settings(kubeconfig: Path, store_url: str, audit_channel: str | None = None) -> Settings:
    """Settings object for the cast."""
    return Settings(**settings_doc(kubeconfig, store_url, audit_channel))
