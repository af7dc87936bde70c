"""Obvious secrets in log lines, replaced before anything is shown or uploaded.

Covered: PEM private keys (the whole block), AWS access key ids and secret keys, JSON Web Tokens
(Kubernetes service-account tokens among them), bearer/basic Authorization values, Slack and
GitHub tokens, credentials in URLs, and ``password=…`` / ``"token": "…"`` style key–value pairs.
Redaction errs on the side of hiding: a false positive costs a line's readability, a miss leaks.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MARK = "[redacted]"
_KEYS = (
    r"password|passwd|pwd|pass|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|id[_-]?token"
    r"|api[_-]?key|apikey|access[_-]?key|secret[_-]?access[_-]?key|aws[_-]?secret[_-]?access[_-]?key|private[_-]?key"
    r"|credentials?|auth"
)
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
        lambda m: "-----BEGIN PRIVATE KEY----- " + MARK + " -----END PRIVATE KEY-----",
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"), lambda m: MARK),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b"), lambda m: MARK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}|\bxapp-[A-Za-z0-9-]{8,}"), lambda m: MARK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{30,}"), lambda m: MARK),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}"), lambda m: m.group(1) + m.group(2) + MARK),
    (
        re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(@)", re.IGNORECASE),
        lambda m: m.group(1) + MARK + m.group(2),
    ),
    (
        re.compile(rf"(?i)([\"']?\b(?:{_KEYS})\b[\"']?\s*[:=]\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s,;&\"'}}\]]+)"),
        lambda m: m.group(1) + (m.group(2)[0] + MARK + m.group(2)[0] if m.group(2)[:1] in "\"'" else MARK),
    ),
    (re.compile(r"(?i)(aws.{0,20}?)\b([A-Za-z0-9/+=]{40})\b"), lambda m: m.group(1) + MARK),
]


def redact_text(text: str) -> tuple[str, int]:
    """``text`` with every obvious secret replaced by ``[redacted]``, and how many were replaced."""
    count = 0
    for pattern, replace in _RULES:
        text, n = pattern.subn(replace, text)
        count += n
    return text, count
