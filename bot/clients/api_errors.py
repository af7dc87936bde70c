"""Kubernetes API and transport errors, translated for people (never a stack trace).

``explain_api_error`` turns an ``ApiException`` into a sentence (the server's own Status message
when there is one). ``translated_api_errors`` is the boundary the engine puts around every step:
a 403 becomes a ``DeniedError`` naming what the cluster refused, a 401 a ``ClusterUnavailableError``
(the bot's own credentials), 429/5xx a ``TemporaryError``, connection failures a
``ClusterUnreachableError`` saying where and why, anything else an ``ExecutionError`` with the
server's message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from bot.clients.cluster_access import unauthorized, unreachable
from bot.errors import DeniedError, ExecutionError, TemporaryError

T = TypeVar("T")


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


@contextmanager
def translated_api_errors(cluster: str) -> Iterator[None]:
    """Translate API and transport errors raised inside the block."""
    try:
        yield
    except ApiException as exc:
        if exc.status == 403:
            raise DeniedError(explain_api_error(exc)) from None
        if exc.status == 401:
            raise unauthorized(cluster) from None
        if exc.status in (429, 500, 502, 503, 504):
            raise TemporaryError(f"cluster {cluster}: {explain_api_error(exc)}", delay=1.0) from None
        raise ExecutionError(f"cluster {cluster}: {explain_api_error(exc)}") from None
    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise unreachable(cluster, exc) from None


def call_translated(cluster: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` with errors translated."""
    with translated_api_errors(cluster):
        return fn()
