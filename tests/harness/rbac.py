"""RBAC fixtures for tests: read-only and change roles bound to users or groups."""

from __future__ import annotations

from typing import Any

from kubernetes import client

READ_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["nodes", "pods", "namespaces", "events"], "verbs": ["get", "list", "watch"]},
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"],
        "verbs": ["get", "list", "watch"],
    },
    # the bot's own records (policies.access: runs, audit); alerts are acked/silenced by operators
    {"apiGroups": ["runbook-bot.io"], "resources": ["runs", "auditevents"], "verbs": ["list"]},
]


def ensure_cluster_role(api: client.ApiClient, name: str, rules: list[dict[str, Any]]) -> None:
    """Create or replace a ClusterRole."""
    rbac = client.RbacAuthorizationV1Api(api)
    body = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }
    try:
        rbac.create_cluster_role(body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        rbac.replace_cluster_role(name, body)


def bind_cluster_role(api: client.ApiClient, role: str, *, group: str | None = None, user: str | None = None) -> str:
    """Bind ``role`` cluster-wide to a group or a user; returns the binding's name."""
    rbac = client.RbacAuthorizationV1Api(api)
    subject = {"kind": "Group", "name": group} if group else {"kind": "User", "name": user}
    subject["apiGroup"] = "rbac.authorization.k8s.io"
    name = f"{role}-{(group or user or '').replace(':', '-')}"
    body = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }
    try:
        rbac.create_cluster_role_binding(body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    return name
