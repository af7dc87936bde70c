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


def test_bound_fields_reach_every_record_and_threads_that_carry_them() -> None:
    import threading

    from bot.config.logs import ContextFilter, carry_context, log_context

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("bot.test.context")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with log_context(run_id="r1", cluster="prod", user=None):
            logger.info("inside")
            worker = threading.Thread(target=carry_context(lambda: logger.info("in a thread")))
            worker.start()
            worker.join()
            logger.info("explicit", extra={"run_id": "other"})
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    fields = [(r.getMessage(), getattr(r, "run_id", None), getattr(r, "cluster", None)) for r in records]
    assert fields == [
        ("inside", "r1", "prod"),
        ("in a thread", "r1", "prod"),
        ("explicit", "other", "prod"),
        ("outside", None, None),
    ]
    assert not hasattr(records[0], "user")
