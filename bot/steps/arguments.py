"""Field types for step parameter models, read the way runbook authors write values.

``Duration`` accepts the bot's duration grammar (``90s``, ``10m``, ``1h30m``, ``2d``) and a
number of seconds, besides a ``timedelta`` (what a ``{timeout}`` placeholder of a ``duration``
parameter carries). It serialises exactly as ``timedelta`` does, so plan hashes do not change.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from bot.durations import coerce_duration

DURATION_PATTERN = r"^(?=\d)(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"
DURATION_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["90s", "10m", "1h30m"]},
        {"type": "number", "minimum": 0},
    ]
}

Duration = Annotated[timedelta, BeforeValidator(coerce_duration), WithJsonSchema(DURATION_JSON_SCHEMA)]
"""A step argument that is a duration: ``10m`` in a runbook, a timedelta from a placeholder."""
