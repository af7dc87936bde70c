"""Turn Kubernetes API errors into sentences a user can act on (never a stack trace)."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException


def explain_api_error(exc: ApiException) -> str:
    """The server's own Status message when there is one, else the HTTP status."""
    message = None
    try:
        body = json.loads(exc.body) if exc.body else {}
        message = body.get("message")
    except (ValueError, TypeError):
        message = None
    if exc.status == 403:
        return f"the cluster refused: {message}" if message else "the cluster refused the request (403 Forbidden)"
    if message:
        return f"the API server answered {exc.status}: {message}"
    return f"the API server answered {exc.status} {exc.reason or ''}".strip()
