"""One retry policy for calls to the Kubernetes API (and any call that raises ``TemporaryError``).

Built on tenacity — not stamina — because a drain needs two things stamina does not let a single
call set: the sleep between attempts must end the moment the run is aborted (``abort`` event), and
the overall deadline is the caller's (the drain's own timeout), not a fixed per-decorator one.

What a failure is (``classify``):
  CONNECT    the connection could not be opened (refused, connect timeout): nothing was sent
  TRANSPORT  the connection broke after the request may have been sent (reset, read timeout, EOF)
  SERVER     the server answered 5xx, or 429 (API Priority and Fairness throttling)
  TEMPORARY  a ``TemporaryError`` (the bot's own "try again in ``delay`` seconds")
  None       anything else (4xx, certificate verification, bugs): never retried

Which faults a call may retry is the caller's choice (``retry_on``): reads and SubjectAccessReviews
retry every fault (``repeatable``); writes that are not idempotent only ``nothing_sent``; evictions
have their own rule in the drain (a 429 there is a PodDisruptionBudget). Waits grow exponentially
with jitter, a server's ``Retry-After`` or a ``TemporaryError.delay`` is honoured instead, and no
attempt starts after the deadline. ``bounded_by`` lets a run cap every call made in its thread (its
abort flag and deadline reach the retries of nested reads too).
"""

from __future__ import annotations

import contextvars
import email.utils
import enum
import http.client
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import tenacity
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from bot.config.settings import ApiRetrySettings
from bot.errors import TemporaryError
from bot.metrics import API_RETRIES

log = logging.getLogger("bot.retry")
T = TypeVar("T")
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class Fault(enum.StrEnum):
    """The kinds of failure a retry may help with."""

    CONNECT = "connect"
    TRANSPORT = "transport"
    SERVER = "server"
    TEMPORARY = "temporary"


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (urllib3's ``reason``, ``__cause__``, ``__context__``), without loops."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        cur = todo.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        reason = getattr(cur, "reason", None)
        todo += [reason if isinstance(reason, BaseException) else None, cur.__cause__, cur.__context__]


def classify(exc: BaseException) -> Fault | None:
    """Which retryable fault ``exc`` is, or None when retrying cannot help."""
    if isinstance(exc, TemporaryError):
        return Fault.TEMPORARY
    if isinstance(exc, ApiException):
        if exc.status in RETRIED_STATUSES:
            return Fault.SERVER
        if exc.status not in (0, None):
            return None
    chain = list(exception_chain(exc))
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return None  # the server is not who it says: retrying will not change that
    connect = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
    if any(isinstance(e, connect) for e in chain):
        return Fault.CONNECT
    transport = (
        ConnectionError,  # reset, refused on a pooled socket, broken pipe, aborted
        TimeoutError,
        http.client.HTTPException,  # RemoteDisconnected, IncompleteRead
        ssl.SSLError,  # EOF or reset inside TLS
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.TimeoutError,
        urllib3.exceptions.SSLError,
        urllib3.exceptions.MaxRetryError,
    )
    if any(isinstance(e, transport) for e in chain):
        return Fault.TRANSPORT
    return None


def repeatable(exc: BaseException) -> bool:
    """For calls that may be repeated freely (reads, SubjectAccessReviews): every retryable fault."""
    return classify(exc) is not None


def nothing_sent(exc: BaseException) -> bool:
    """For writes that are not idempotent: only when the connection never opened (nothing was sent)."""
    return classify(exc) is Fault.CONNECT


def server_delay(exc: BaseException) -> float | None:
    """The wait the other side asked for: ``TemporaryError.delay`` or an HTTP ``Retry-After`` (seconds or date)."""
    if isinstance(exc, TemporaryError):
        return max(0.0, exc.delay)
    headers = getattr(exc, "headers", None) if isinstance(exc, ApiException) else None
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def describe(exc: BaseException) -> str:
    """A short, secret-free name for a failure (never headers or bodies): ``503``, ``ConnectionRefusedError``."""
    if isinstance(exc, ApiException) and exc.status:
        return f"HTTP {exc.status}"
    if isinstance(exc, TemporaryError):
        return str(exc)
    chain = list(exception_chain(exc))
    for e in reversed(chain):  # the innermost OS-level cause says most
        if isinstance(e, ConnectionError | TimeoutError | ssl.SSLError):
            return type(e).__name__
    return type(exc).__name__


# -- a run's bounds, seen by every call made in its thread --------------------------------------
@dataclass(frozen=True)
class _Bounds:
    deadline: float | None
    abort: threading.Event | None


_NO_BOUNDS = _Bounds(None, None)
_BOUNDS: contextvars.ContextVar[_Bounds | None] = contextvars.ContextVar("retry_bounds", default=None)


@contextmanager
def bounded_by(*, deadline: float | None = None, abort: threading.Event | None = None) -> Iterator[None]:
    """Inside the block, no retried call in this thread waits past ``deadline`` (monotonic) or after ``abort``."""
    outer = _BOUNDS.get() or _NO_BOUNDS
    deadlines = [d for d in (deadline, outer.deadline) if d is not None]
    token = _BOUNDS.set(_Bounds(min(deadlines) if deadlines else None, abort or outer.abort))
    try:
        yield
    finally:
        _BOUNDS.reset(token)


class _Stopped(Exception):
    """The abort flag was raised while waiting between attempts."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, server hints honoured, bounded by a deadline and an abort flag."""

    deadline_seconds: float = 30.0
    initial_backoff_seconds: float = 0.25
    max_backoff_seconds: float = 8.0
    max_retry_after_seconds: float = 30.0

    @staticmethod
    def from_settings(settings: ApiRetrySettings) -> RetryPolicy:
        """The policy a cluster's settings ask for."""
        return RetryPolicy(
            deadline_seconds=settings.deadline_seconds,
            initial_backoff_seconds=settings.initial_backoff_seconds,
            max_backoff_seconds=settings.max_backoff_seconds,
            max_retry_after_seconds=settings.max_retry_after_seconds,
        )

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based) when the server gave no hint."""
        exp = self.initial_backoff_seconds * 2.0 ** min(attempt - 1, 30)
        return min(self.max_backoff_seconds, exp) + random.uniform(0, self.initial_backoff_seconds)  # noqa: S311

    def _wait(self, rs: tenacity.RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        hinted = server_delay(exc) if exc is not None else None
        if hinted is not None:  # honour it; a little jitter so many waiters do not return at once
            return min(hinted, self.max_retry_after_seconds) + random.uniform(0, 0.1)  # noqa: S311
        return self.backoff(rs.attempt_number)

    def call(
        self,
        fn: Callable[[], T],
        *,
        what: str,
        retry_on: Callable[[BaseException], bool] = repeatable,
        deadline: float | None = None,
        abort: threading.Event | None = None,
    ) -> T:
        """Call ``fn`` until it succeeds or fails for good; the last failure is raised as it was.

        ``deadline`` (monotonic) replaces the policy's own ``deadline_seconds`` for this call; either
        way the enclosing ``bounded_by`` caps it. ``abort`` ends the waiting at once.
        """
        bounds = _BOUNDS.get() or _NO_BOUNDS
        limit = deadline if deadline is not None else time.monotonic() + self.deadline_seconds
        if bounds.deadline is not None:
            limit = min(limit, bounds.deadline)
        flag = abort or bounds.abort
        failures: list[BaseException] = []

        def stop(rs: tenacity.RetryCallState) -> bool:
            return bool(flag and flag.is_set()) or time.monotonic() + rs.upcoming_sleep >= limit

        def sleep(seconds: float) -> None:
            if flag is None:
                time.sleep(seconds)
            elif flag.wait(seconds):
                raise _Stopped

        def before_sleep(rs: tenacity.RetryCallState) -> None:
            exc = rs.outcome.exception() if rs.outcome else None
            if exc is None:
                return
            failures.append(exc)
            fault = classify(exc)
            API_RETRIES.labels(fault=str(fault or "other")).inc()
            log.info(
                "retrying %s in %.2fs (attempt %d failed: %s)",
                what,
                rs.upcoming_sleep,
                rs.attempt_number,
                describe(exc),
                extra={"what": what, "attempt": rs.attempt_number, "fault": str(fault)},
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(retry_on),
            wait=self._wait,
            stop=stop,
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except _Stopped:
            raise failures[-1] from None

    def keep_watching(self, session: Callable[[bool], None], *, what: str, stop: threading.Event) -> None:
        """Run ``session(after_failure)`` again and again until ``stop``: a watch that reconnects.

        A session that ends normally (its watch window closed) starts the next one at once; one that
        fails on a retryable fault is retried with backoff, its ``after_failure`` True so it re-lists
        before watching again (what changed while the connection was down is seen). Any other failure
        is logged and retried at the longest backoff: the watch is the drain's eyes and must not die.
        """
        after_failure = [False]

        def once() -> None:
            try:
                session(after_failure[0])
            except BaseException:
                after_failure[0] = True
                raise
            after_failure[0] = False

        while not stop.is_set():
            try:
                self.call(once, what=what, deadline=float("inf"), abort=stop)
            except Exception as exc:  # noqa: BLE001 - a non-retryable failure must not end the watch; it is logged
                if stop.is_set():
                    return
                log.warning("%s failed (%s); watching again later", what, describe(exc), extra={"what": what})
                if stop.wait(self.max_backoff_seconds):
                    return
