"""k8s-runbook-bot: chat-ops runbooks for Kubernetes, planned, authorized and audited."""

__version__ = "0.1.0"
