"""Calling into executors with Kubernetes and network errors translated for users.

The engine never sees a kubernetes or urllib3 exception: a 403 becomes a DeniedError naming
what the cluster refused, connection failures say which cluster could not be reached, and
anything else becomes an ExecutionError with the server's own message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from bot.errors import DeniedError, ExecutionError, TemporaryError
from bot.steps.kube_errors import explain_api_error

T = TypeVar("T")


@contextmanager
def kube_errors(cluster: str) -> Iterator[None]:
    """Translate API and transport errors raised inside the block."""
    try:
        yield
    except ApiException as exc:
        if exc.status == 403:
            raise DeniedError(explain_api_error(exc)) from None
        if exc.status in (429, 500, 502, 503, 504):
            raise TemporaryError(f"cluster {cluster}: {explain_api_error(exc)}", delay=1.0) from None
        raise ExecutionError(f"cluster {cluster}: {explain_api_error(exc)}") from None
    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise TemporaryError(f"cannot reach the API server of cluster {cluster} ({type(exc).__name__})") from None


def call(cluster: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` with errors translated."""
    with kube_errors(cluster):
        return fn()
