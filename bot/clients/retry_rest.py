"""Every Kubernetes API request through the one retry policy, decided per request in one table.

| request                                                       | retried on               |
|---------------------------------------------------------------|--------------------------|
| GET / HEAD (reads and lists; the body is read inside the try) | every retryable fault    |
| POST of a SubjectAccessReview (creates nothing)               | every retryable fault    |
| any other write (POST, PUT, PATCH, DELETE, evictions too)     | only ``nothing_sent``    |
| watches and followed logs (streams)                           | not here (see below)     |

Streams are reconnected by their watch loops (``RetryPolicy.keep_watching``), which re-list.

Evictions are retried by the drain itself, which checks the pod before it sends one again
(bot/steps/drain.py). The stock client's urllib3 retries (immediate, no backoff) are switched off
by the client factory so that this is the only policy.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client
from kubernetes.client.rest import RESTClientObject

from bot.clients.retry import RetryPolicy, nothing_sent, repeatable

#: POSTs that create nothing: asking the authorizer is as repeatable as a read.
_REVIEW_PATH = re.compile(
    r"/apis/authorization\.k8s\.io/v1/(?:namespaces/[^/]+/)?"
    r"(?:subjectaccessreviews|selfsubjectaccessreviews|localsubjectaccessreviews|selfsubjectrulesreviews)/?$"
)
_STREAM_FLAGS = ("watch", "follow")


def is_stream(query_params: Any) -> bool:
    """A watch or a followed log: a long-lived response the caller reads as it arrives."""
    return any(key in _STREAM_FLAGS and str(value).lower() == "true" for key, value in query_params or [])


def is_repeatable(method: str, url: str) -> bool:
    """May this request be sent again after an unknown outcome? Reads and access reviews may."""
    if method in ("GET", "HEAD"):
        return True
    return method == "POST" and bool(_REVIEW_PATH.search(urlsplit(url).path))


class RetryingREST(RESTClientObject):  # type: ignore[misc]
    """The stock REST client, each request retried as the table above says."""

    def __init__(self, configuration: client.Configuration, policy: RetryPolicy) -> None:
        super().__init__(configuration)
        self.policy = policy

    def request(
        self,
        method: str,
        url: str,
        query_params: Any = None,
        headers: Any = None,
        body: Any = None,
        post_params: Any = None,
        _preload_content: bool = True,
        _request_timeout: Any = None,
    ) -> Any:
        send = super().request
        if is_stream(query_params):
            return send(method, url, query_params, headers, body, post_params, _preload_content, _request_timeout)

        def attempt() -> Any:
            resp = send(method, url, query_params, headers, body, post_params, _preload_content, _request_timeout)
            if not _preload_content:
                _ = resp.data  # read the whole body now: a reset half-way through is retried like any other
            return resp

        retry_on = repeatable if is_repeatable(method, url) else nothing_sent
        return self.policy.call(attempt, what=f"{method} {urlsplit(url).path}", retry_on=retry_on)
