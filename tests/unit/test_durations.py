"""The one duration grammar: parameters and configuration parse and print alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.durations import (
    MAX_DURATION,
    DurationError,
    ago,
    coerce_duration,
    format_duration,
    human_duration,
    parse_duration,
    seconds_text,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_parse_accepts_every_unit_in_order(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "soon", "10", "m10", "10m1h", "1.5h", "-5m", " 10m", "10m\n", "10 m"])
def test_parse_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(DurationError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["99999999999h", "999999999d", "367d"])
def test_parse_refuses_overlong_durations_instead_of_overflowing(text: str) -> None:
    with pytest.raises(DurationError, match="too long"):
        parse_duration(text)


def test_coerce_takes_seconds_and_text_and_refuses_negatives() -> None:
    assert coerce_duration(90) == timedelta(seconds=90)
    assert coerce_duration(" 15m ") == timedelta(minutes=15)
    assert coerce_duration(timedelta(hours=1)) == timedelta(hours=1)
    with pytest.raises(DurationError, match="negative"):
        coerce_duration(-1)
    with pytest.raises(DurationError, match="too long"):
        coerce_duration(MAX_DURATION.total_seconds() + 1)


def test_people_read_the_two_largest_units() -> None:
    assert human_duration(timedelta(days=1, hours=7, minutes=4, seconds=51)) == "1d7h"
    assert human_duration(timedelta(seconds=40)) == "40s"
    assert human_duration(timedelta(0)) == "0s"
    assert seconds_text(12.34) == "12.3s"
    assert seconds_text(3725) == "1h2m"
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert ago(now - timedelta(minutes=12), now) == "12m"
    assert ago(None, now) == "?"
