"""No secret ever reaches a log line."""

from __future__ import annotations

import json
import logging

from bot.config.logs import JsonFormatter, redact


def test_tokens_and_keys_are_redacted() -> None:
    text = (
        "token xoxb-123-456-abc and xapp-1-A-2 Authorization: Bearer eyJhbGciOi.x.y "
        "client-key-data: LS0tLS1CRUdJTg== password=hunter2 "
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
    )
    out = redact(text)
    for secret in ("xoxb-123", "xapp-1-A", "eyJhbGciOi", "LS0tLS1CRUdJTg", "hunter2", "MIIE"):
        assert secret not in out
    assert out.count("[redacted]") >= 6


def test_json_lines_carry_extras_and_redact_them() -> None:
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "posted %s", ("xoxb-9-9-9",), None)
    record.ref = "abc123"
    record.header = "Bearer sekrit"
    doc = json.loads(JsonFormatter().format(record))
    assert doc["ref"] == "abc123"
    assert "xoxb-9" not in doc["message"]
    assert "sekrit" not in doc["header"]
