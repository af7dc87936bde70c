"""Structured (JSON) logging with secrets redacted before anything is written.

Fields that belong to a whole unit of work (run id, ref, cluster, user) are bound once with
``log_context(...)``; every record logged inside — by any module — carries them (a
``contextvars`` variable read by ``ContextFilter``). A thread started for that work takes the
fields along when its target is wrapped with ``carry_context``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

# Slack tokens, bearer tokens, PEM blocks and obvious key=value secrets.
_SECRET_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----"),
    re.compile(
        r"(?i)(password|secret|token|client-key-data|client-certificate-data)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
    ),
]
_STD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_CONTEXT: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "runbook_bot_log_context", default=None
)
P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Bind ``fields`` (None values are left out) to every record logged inside the block."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def carry_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` wrapped to run with the caller's bound fields (for a thread or an executor)."""
    ctx = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.run(fn, *args, **kwargs)

    return run


class ContextFilter(logging.Filter):
    """Adds the fields bound with ``log_context`` to each record (an explicit ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Copy the bound fields onto ``record``; never drops it."""
        for key, value in (_CONTEXT.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def redact(text: str) -> str:
    """Replace anything that looks like a credential with ``[redacted]``."""
    for pat in _SECRET_PATTERNS:
        text = pat.sub(lambda m: (m.group(1) + m.group(2) + "[redacted]") if m.lastindex else "[redacted]", text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                doc[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            doc["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines for local use, redacted the same way."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in record.__dict__.items() if k not in _STD_ATTRS and not k.startswith("_")}
        tail = (" " + " ".join(f"{k}={v}" for k, v in extras.items())) if extras else ""
        return redact(f"{record.levelname.lower():7} {record.name}: {record.getMessage()}{tail}")


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route all logging to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "kubernetes", "slack_bolt", "slack_sdk", "waitress", "botocore", "boto3", "azure", "msal"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
