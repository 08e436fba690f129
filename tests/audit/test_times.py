"""One time convention (issue 17): ISO 8601 with Z or an offset, a date with a zone, never a naive time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.times import TimeFormatError, parse_instant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26Z", datetime(2026, 11, 26, tzinfo=UTC)),
        ("2026-11-26z", datetime(2026, 11, 26, tzinfo=UTC)),
        ("2026-11-26+01:00", datetime(2026, 11, 25, 23, tzinfo=UTC)),
        ("2026-11-26T09:30:00Z", datetime(2026, 11, 26, 9, 30, tzinfo=UTC)),
        ("2026-11-26T09:30Z", datetime(2026, 11, 26, 9, 30, tzinfo=UTC)),
        ("2026-11-26T10:30:00+01:00", datetime(2026, 11, 26, 9, 30, tzinfo=UTC)),
        ("2026-11-26T09:30:00.250000+00:00", datetime(2026, 11, 26, 9, 30, 0, 250000, tzinfo=UTC)),
    ],
)
def test_instants_with_a_zone_are_read(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize("text", ["2026-11-26", "2026-11-26T09:30:00", "2026-11-26 09:30"])
def test_a_naive_time_is_refused_and_the_message_says_what_is_wanted(text: str) -> None:
    with pytest.raises(TimeFormatError, match="no zone") as caught:
        parse_instant(text, "since")
    assert str(caught.value).startswith("since: ") and "2026-11-26Z" in str(caught.value)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01Z", "2026-11-26ZZ", "x" * 100])
def test_what_is_not_a_time_is_refused(text: str) -> None:
    with pytest.raises(TimeFormatError, match="ISO 8601"):
        parse_instant(text)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_an_instant_outside_the_calendar_in_utc_is_refused(text: str) -> None:
    with pytest.raises(TimeFormatError, match="outside the years"):
        parse_instant(text)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_every_isoformat_with_an_offset_round_trips(value: datetime, minutes: int) -> None:
    aware = value.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    assert parse_instant(aware.isoformat()) == aware
