"""Tests of the liquidation and settlement marks (simulator/model/marks.py)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.core.money import parse_price
from simulator.model.marks import SettlementMark, liquidation_mark

# ---------------------------------------------------------------- liquidation mark


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("6.3324", "6.3352"), ("6.3363", "6.3363"), ("6.3600", "6.3556")],
)
def test_liquidation_mark_both_sides_returns_median(reference, expected):
    bid, ask = parse_price("6.3352"), parse_price("6.3556")

    assert liquidation_mark(bid, ask, parse_price(reference)) == parse_price(expected)


@pytest.mark.parametrize(("bid", "ask"), [(None, 63_556), (63_352, None), (None, None)])
def test_liquidation_mark_one_sided_book_returns_reference(bid, ask):
    assert liquidation_mark(bid, ask, 63_000) == 63_000


def test_liquidation_mark_no_reference_returns_none():
    assert liquidation_mark(63_352, 63_556, None) is None


# ---------------------------------------------------------------- settlement mark: averages


def test_settlement_mark_two_halves_returns_their_average():
    sm = SettlementMark()
    sm.record(0, 100)
    sm.record(30_000, 200)

    assert sm.refresh(60_000) == 150
    assert sm.value == (150, 60_000)


def test_settlement_mark_window_excludes_value_recorded_at_refresh_instant():
    sm = SettlementMark()
    sm.record(0, 100)
    sm.record(60_000, 300)

    assert sm.refresh(60_000) == 100


def test_settlement_mark_window_starts_sixty_seconds_back():
    sm = SettlementMark()
    sm.record(0, 100)
    sm.record(10_000, 200)

    assert sm.refresh(69_999) == 200  # 1 ms of 100 in 60 s rounds away
    assert sm.refresh(70_000) == 200


def test_settlement_mark_weights_by_time_in_force():
    sm = SettlementMark()
    sm.record(0, 100)
    sm.record(50_000, 160)  # 10 s of 160 after 50 s of 100

    assert sm.refresh(60_000) == 110


def test_settlement_mark_partial_history_averages_covered_part():
    sm = SettlementMark()
    sm.record(10_000, 100)
    sm.record(15_000, 200)

    assert sm.refresh(20_000) == 150


@pytest.mark.parametrize(("second", "expected"), [(201, 150), (203, 152)])
def test_settlement_mark_tie_rounds_half_to_even(second, expected):
    sm = SettlementMark()
    sm.record(10_000, 100)
    sm.record(15_000, second)

    assert sm.refresh(20_000) == expected


def test_settlement_mark_nothing_covered_returns_current_liquidation_mark():
    sm = SettlementMark()
    sm.record(5_000, 123)

    assert sm.refresh(5_000) == 123


def test_settlement_mark_refresh_without_history_raises():
    with pytest.raises(ValueError, match="no liquidation mark"):
        SettlementMark().refresh(10_000)


def test_settlement_mark_time_going_backwards_raises():
    sm = SettlementMark()
    sm.record(5_000, 1)

    with pytest.raises(ValueError, match="backwards"):
        sm.refresh(4_000)


def test_settlement_mark_rerecord_same_instant_replaces_value():
    sm = SettlementMark()
    sm.record(0, 100)
    sm.record(30_000, 500)
    sm.record(30_000, 200)

    assert sm.refresh(60_000) == 150
    assert sm.liquidation_mark == (200, 30_000)


def test_settlement_mark_configurable_window_and_grid():
    sm = SettlementMark(window_ms=1_000, refresh_ms=250)
    sm.record(0, 100)
    sm.record(1_500, 300)

    assert sm.refresh(2_000) == 200
    assert sm.next_refresh_after(2_000) == 2_250


# ---------------------------------------------------------------- settlement mark: scheduling


def test_settlement_mark_next_refresh_without_history_is_none():
    assert SettlementMark().next_refresh_after(0) is None


def test_settlement_mark_next_refresh_is_next_grid_point():
    sm = SettlementMark()
    sm.record(3_000, 100)

    assert sm.next_refresh_after(3_000) == 10_000
    assert sm.next_refresh_after(10_000) == 20_000


def test_settlement_mark_refresh_scheduling_stops_when_constant_and_resumes_after_change():
    sm = SettlementMark()
    sm.record(0, 100)
    sm.record(5_000, 110)
    now = 10_000
    last = sm.refresh(now)
    while (due := sm.next_refresh_after(now)) is not None and due <= 1_000_000:
        now = due
        last = sm.refresh(now)

    assert (now, last) == (70_000, 110)  # the first refresh whose window is all 110
    assert sm.next_refresh_after(70_000) is None
    assert sm.next_refresh_after(500_000) is None

    sm.record(500_300, 120)

    assert sm.next_refresh_after(500_300) == 510_000
    assert sm.refresh(510_000) == 112  # 50.3 s of 110 and 9.7 s of 120 -> 111.6...


def test_settlement_mark_single_value_young_market_stops_after_first_refresh():
    sm = SettlementMark()
    sm.record(3_000, 100)

    assert sm.refresh(10_000) == 100
    assert sm.next_refresh_after(10_000) is None


def test_settlement_mark_rerecording_same_value_keeps_scheduling_stopped():
    sm = SettlementMark()
    sm.record(0, 100)
    sm.refresh(60_000)
    sm.record(61_000, 100)

    assert sm.next_refresh_after(61_000) is None


def test_settlement_mark_stored_value_equal_by_coincidence_keeps_refreshing():
    sm = SettlementMark()
    sm.record(0, 100)
    sm.record(30_000, 200)
    sm.record(60_000, 150)

    assert sm.refresh(60_000) == 150
    assert sm.next_refresh_after(60_000) == 70_000


def test_settlement_mark_history_is_pruned_to_one_window():
    sm = SettlementMark()
    for second in range(10_000):
        sm.record(second * 1_000, 60_000 + second % 7)
        if second % 10 == 0:
            sm.refresh(second * 1_000)

    assert len(sm._changes) <= 62


# ---------------------------------------------------------------- settlement mark: model check


def _naive_average(records: list[tuple[int, int]], ts_ms: int, window_ms: int) -> int:
    """Average per millisecond over the full, unpruned history (records at distinct times)."""
    total = 0
    covered = 0
    for t in range(ts_ms - window_ms, ts_ms):
        in_force = [value for since, value in records if since <= t]
        if in_force:
            total += in_force[-1]
            covered += 1
    if covered == 0:
        return records[-1][1]
    return round(Fraction(total, covered))


_steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=60),  # time advance in ms
        st.booleans(),  # True: record, False: refresh
        st.integers(min_value=1, max_value=1_000),  # the liquidation mark to record
    ),
    min_size=1,
    max_size=60,
)


@given(_steps)
def test_settlement_mark_matches_naive_per_millisecond_average(steps):
    window_ms, refresh_ms = 100, 10
    sm = SettlementMark(window_ms=window_ms, refresh_ms=refresh_ms)
    records: list[tuple[int, int]] = []
    now = 1_000
    for advance, is_record, value in steps:
        now += advance
        if is_record:
            sm.record(now, value)
            if records and records[-1][0] == now:
                records.pop()
            records.append((now, value))
        elif records:
            assert sm.refresh(now) == _naive_average(records, now, window_ms)
            assert sm.value is not None
            assert sm.value[1] == now

    if records and sm.value is not None and sm.next_refresh_after(now) is None:
        for later in (now + refresh_ms, now + window_ms, now + 10 * window_ms):
            assert sm.refresh(later) == _naive_average(records, later, window_ms)
            assert sm.refresh(later) == sm.value[0]


@given(_steps)
def test_settlement_mark_value_at_before_a_refresh_is_what_refresh_would_store(steps):
    sm = SettlementMark(window_ms=100, refresh_ms=10)
    now = 1_000
    for advance, _, value in steps:
        now += advance
        sm.record(now, value)

    peeked = sm.value_at(now + 7)
    again = sm.value_at(now + 7)

    assert sm.value is None
    assert peeked == again == (sm.refresh(now + 7), now + 7)
    assert sm.value_at(now + 50) == sm.value  # once stored, the stored value is the answer


def test_settlement_mark_value_at_without_any_mark_is_none():
    assert SettlementMark().value_at(1_000) is None
