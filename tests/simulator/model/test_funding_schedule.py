"""Unit and property tests of `simulator.model.funding_schedule`: ET-anchored funding instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.model.funding_schedule import SCHEDULE_NAMES, FundingSchedule

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR_MS = 3_600_000
NEW_YORK = ZoneInfo("America/New_York")

CRYPTO = FundingSchedule.from_name("crypto_8h")
METALS = FundingSchedule.from_name("metals_daily")


def utc_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Epoch milliseconds of a UTC wall-clock time."""
    return (datetime(year, month, day, hour, minute, tzinfo=UTC) - _EPOCH) // timedelta(
        milliseconds=1
    )


def instants_between(schedule: FundingSchedule, start_ms: int, end_ms: int) -> list[int]:
    """All funding instants in `(start_ms, end_ms]`, walking `next_after`."""
    result = []
    ts = schedule.next_after(start_ms)
    while ts <= end_ms:
        result.append(ts)
        ts = schedule.next_after(ts)
    return result


def test_crypto_summer_day_funds_at_04_12_20_utc() -> None:
    day = instants_between(CRYPTO, utc_ms(2026, 6, 15), utc_ms(2026, 6, 16))

    assert day == [utc_ms(2026, 6, 15, 4), utc_ms(2026, 6, 15, 12), utc_ms(2026, 6, 15, 20)]


def test_crypto_winter_day_funds_at_05_13_21_utc() -> None:
    day = instants_between(CRYPTO, utc_ms(2026, 1, 15), utc_ms(2026, 1, 16))

    assert day == [utc_ms(2026, 1, 15, 5), utc_ms(2026, 1, 15, 13), utc_ms(2026, 1, 15, 21)]


def test_crypto_spring_forward_day_has_a_seven_hour_first_interval() -> None:
    # 2026-03-08: 00:00 EST = 05:00 UTC, then EDT: 08:00 = 12:00 UTC, 16:00 = 20:00 UTC
    day = instants_between(CRYPTO, utc_ms(2026, 3, 8), utc_ms(2026, 3, 9, 4))

    assert day == [
        utc_ms(2026, 3, 8, 5),
        utc_ms(2026, 3, 8, 12),
        utc_ms(2026, 3, 8, 20),
        utc_ms(2026, 3, 9, 4),
    ]
    assert day[1] - day[0] == 7 * _HOUR_MS


def test_crypto_fall_back_day_has_a_nine_hour_first_interval() -> None:
    # 2026-11-01: 00:00 EDT = 04:00 UTC, then EST: 08:00 = 13:00 UTC, 16:00 = 21:00 UTC
    day = instants_between(CRYPTO, utc_ms(2026, 11, 1), utc_ms(2026, 11, 2, 5))

    assert day == [
        utc_ms(2026, 11, 1, 4),
        utc_ms(2026, 11, 1, 13),
        utc_ms(2026, 11, 1, 21),
        utc_ms(2026, 11, 2, 5),
    ]
    assert day[1] - day[0] == 9 * _HOUR_MS


def test_next_after_on_a_funding_instant_returns_the_following_one() -> None:
    assert CRYPTO.next_after(utc_ms(2026, 6, 15, 12)) == utc_ms(2026, 6, 15, 20)
    assert CRYPTO.next_after(utc_ms(2026, 6, 15, 12) - 1) == utc_ms(2026, 6, 15, 12)


def test_last_at_or_before_on_a_funding_instant_returns_it() -> None:
    assert CRYPTO.last_at_or_before(utc_ms(2026, 6, 15, 12)) == utc_ms(2026, 6, 15, 12)
    assert CRYPTO.last_at_or_before(utc_ms(2026, 6, 15, 12) - 1) == utc_ms(2026, 6, 15, 4)


def test_next_after_late_evening_et_crosses_the_local_midnight() -> None:
    # 2026-06-15 23:30 EDT is 2026-06-16 03:30 UTC; next is 2026-06-16 00:00 EDT
    assert CRYPTO.next_after(utc_ms(2026, 6, 16, 3, 30)) == utc_ms(2026, 6, 16, 4)
    assert CRYPTO.last_at_or_before(utc_ms(2026, 6, 16, 3, 30)) == utc_ms(2026, 6, 15, 20)


def test_metals_friday_next_is_monday_1000_et() -> None:
    friday_funding = utc_ms(2026, 6, 12, 14)  # Friday 10:00 EDT

    assert METALS.next_after(friday_funding) == utc_ms(2026, 6, 15, 14)
    assert METALS.last_at_or_before(utc_ms(2026, 6, 14, 23)) == friday_funding


def test_metals_week_funds_on_weekdays_only() -> None:
    week = instants_between(METALS, utc_ms(2026, 1, 11), utc_ms(2026, 1, 18))  # Sun..Sun

    assert week == [utc_ms(2026, 1, day, 15) for day in range(12, 17)]  # 10:00 EST Mon-Fri


def test_metals_dst_transition_week_tracks_new_york_time() -> None:
    # DST starts Sunday 2026-03-08: Friday the 6th is EST, Monday the 9th is EDT
    assert METALS.next_after(utc_ms(2026, 3, 6, 15)) == utc_ms(2026, 3, 9, 14)


def test_from_name_unknown_raises() -> None:
    with pytest.raises(ValueError, match="unknown funding schedule"):
        FundingSchedule.from_name("hourly")


def test_from_name_knows_every_listed_name() -> None:
    assert [FundingSchedule.from_name(name).name for name in SCHEDULE_NAMES] == list(SCHEDULE_NAMES)


def test_schedule_without_weekdays_raises() -> None:
    with pytest.raises(ValueError, match="weekdays"):
        FundingSchedule("none", CRYPTO.times, frozenset())


@settings(max_examples=200)
@given(ts=st.integers(utc_ms(2025, 1, 1), utc_ms(2029, 1, 1)))
def test_crypto_instants_bracket_any_time_with_seven_to_nine_hour_gaps(ts: int) -> None:
    last = CRYPTO.last_at_or_before(ts)
    following = CRYPTO.next_after(ts)

    assert last <= ts < following
    assert CRYPTO.next_after(last) == following
    assert following - last in (7 * _HOUR_MS, 8 * _HOUR_MS, 9 * _HOUR_MS)


@settings(max_examples=200)
@given(ts=st.integers(utc_ms(2025, 1, 1), utc_ms(2029, 1, 1)))
def test_metals_instants_fall_on_weekdays_at_1000_new_york(ts: int) -> None:
    following = METALS.next_after(ts)
    local = (_EPOCH + timedelta(milliseconds=following)).astimezone(NEW_YORK)

    assert following > ts >= METALS.last_at_or_before(ts)
    assert local.weekday() < 5
    assert (local.hour, local.minute, local.second, local.microsecond) == (10, 0, 0, 0)
    assert following - METALS.last_at_or_before(ts) in {
        days * 24 * _HOUR_MS + shift for days in (1, 3) for shift in (-_HOUR_MS, 0, _HOUR_MS)
    }
