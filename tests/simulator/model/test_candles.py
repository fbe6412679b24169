"""Candlesticks: trade OHLC, quote OHLC, volume and open interest per 1/60/1440-minute period.

The exchange starts at T0 = 2026-06-14T00:00:00Z (a whole day). Trades of the scenario:
T0+30 s 1 contract at 6.2100 (taker bid), T0+70 s 1 contract at 6.2000 (taker ask).
"""

from __future__ import annotations

import itertools
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import Side
from simulator.core import errors
from simulator.model.candles import (
    PERIOD_MINUTES,
    Candle,
    Ohlc,
    QuoteHistory,
    _Buckets,
    candles,
)
from simulator.model.orders import PlaceOrder
from tests.simulator.factories import T0, dollars, make_exchange

TICKER = "KXBTCPERP"
T0_S = T0 // 1000
_ids = itertools.count()


def _place(ex, user, side, price, count):
    ex.place_order(user, PlaceOrder(TICKER, side, price, count, f"c{next(_ids)}"))


def _at(ex, ms):
    ex.advance(T0 + ms - ex.now())


def _scenario():
    ex = make_exchange()
    a = ex.create_user(balance=dollars("1000")).user_id
    b = ex.create_user(balance=dollars("1000")).user_id
    _at(ex, 10_000)
    _place(ex, a, Side.BID, 62000, 100)
    _at(ex, 20_000)
    _place(ex, b, Side.ASK, 62100, 200)
    _at(ex, 30_000)
    _place(ex, a, Side.BID, 62100, 100)  # trade 1 @ 6.2100; OI 1
    _at(ex, 70_000)
    _place(ex, b, Side.ASK, 62000, 100)  # trade 2 @ 6.2000; bids empty; OI 2
    return ex


def test_minute_candles_report_trades_quotes_and_open_interest():
    ex = _scenario()

    found = candles(ex, TICKER, T0_S, T0_S + 300, 1)

    assert found == [
        Candle(
            end_ms=T0 + 60_000,
            bid=Ohlc(62000, 62000, 62000, 62000),
            ask=Ohlc(62100, 62100, 62100, 62100),
            open=62100,
            high=62100,
            low=62100,
            close=62100,
            mean=dollars("6.2100"),
            previous=None,
            volume=100,
            volume_notional=dollars("6.21"),
            open_interest=100,
            open_interest_notional=dollars("6.21"),
        ),
        Candle(
            end_ms=T0 + 120_000,
            # the bid in force when the minute began, then none: the last quote seen
            bid=Ohlc(62000, 62000, 62000, 62000),
            ask=Ohlc(62100, 62100, 62100, 62100),
            open=62000,
            high=62000,
            low=62000,
            close=62000,
            mean=dollars("6.2000"),
            previous=62100,
            volume=100,
            volume_notional=dollars("6.20"),
            open_interest=200,
            open_interest_notional=dollars("12.40"),
        ),
    ]


def test_hour_candle_combines_its_minutes():
    ex = _scenario()

    found = candles(ex, TICKER, T0_S, T0_S + 3_600, 60)

    assert found == [
        Candle(
            end_ms=T0 + 3_600_000,
            bid=Ohlc(62000, 62000, 62000, 62000),
            ask=Ohlc(62100, 62100, 62100, 62100),
            open=62100,
            high=62100,
            low=62000,
            close=62000,
            mean=dollars("6.2050"),
            previous=None,
            volume=200,
            volume_notional=dollars("12.41"),
            open_interest=200,
            open_interest_notional=dollars("12.40"),
        )
    ]


def test_day_candle_ends_at_midnight_utc():
    ex = _scenario()

    found = candles(ex, TICKER, T0_S + 1, T0_S + 86_400, 1440)

    assert [c.end_ms for c in found] == [T0 + 86_400_000]
    assert (found[0].volume, found[0].low, found[0].high) == (200, 62000, 62100)


def test_quote_ranges_cover_moves_inside_a_minute():
    ex = make_exchange()
    a = ex.create_user(balance=dollars("1000")).user_id
    _at(ex, 1_000)
    _place(ex, a, Side.BID, 62000, 100)
    _at(ex, 2_000)
    _place(ex, a, Side.BID, 62050, 100)
    _at(ex, 3_000)
    ex.cancel_all(a)
    _place(ex, a, Side.BID, 61990, 100)

    (candle,) = candles(ex, TICKER, T0_S, T0_S + 60, 1)

    assert candle.bid == Ohlc(open=62000, high=62050, low=61990, close=61990)
    assert candle.ask == Ohlc(0, 0, 0, 0)  # no ask at all during the minute
    assert (candle.open, candle.mean, candle.previous, candle.volume) == (None, None, None, 0)


def test_mean_is_volume_weighted_and_rounded_half_to_even():
    ex = make_exchange()
    a = ex.create_user(balance=dollars("1000")).user_id
    b = ex.create_user(balance=dollars("1000")).user_id
    _place(ex, a, Side.ASK, 62001, 100)
    _place(ex, a, Side.ASK, 62000, 200)
    _place(ex, b, Side.BID, 62001, 300)

    (candle,) = candles(ex, TICKER, T0_S, T0_S, 1)

    # (6.2000 x 2 + 6.2001 x 1) / 3 = 6.200033...
    assert candle.mean == 6_200_033
    assert candle.end_ms == T0  # a trade at the boundary belongs to the period ending there


def test_periods_without_activity_have_no_candle():
    ex = _scenario()

    assert candles(ex, TICKER, T0_S + 121, T0_S + 3_000, 1) == []
    assert candles(ex, TICKER, T0_S + 61, T0_S + 119, 1) == []  # no period end in the range


def test_latest_before_start_carries_the_last_state_forward():
    ex = _scenario()

    found = candles(ex, TICKER, T0_S + 150, T0_S + 300, 1, include_latest_before_start=True)

    assert found == [
        Candle(
            end_ms=T0 + 180_000,
            bid=Ohlc(0, 0, 0, 0),
            ask=Ohlc(62100, 62100, 62100, 62100),
            open=None,
            high=None,
            low=None,
            close=None,
            mean=None,
            previous=62000,
            volume=0,
            volume_notional=0,
            open_interest=200,
            open_interest_notional=dollars("12.40"),
        )
    ]


def test_latest_before_start_is_not_added_over_a_real_candle_or_without_history():
    ex = _scenario()
    fresh = make_exchange()

    with_real = candles(ex, TICKER, T0_S + 120, T0_S + 120, 1, include_latest_before_start=True)
    nothing_before = candles(fresh, TICKER, T0_S, T0_S + 600, 1, include_latest_before_start=True)

    assert [c.end_ms for c in with_real] == [T0 + 120_000]
    assert with_real[0].volume == 100
    assert nothing_before == []


@pytest.mark.parametrize("period", [0, 5, 30, 1441, -1])
def test_unknown_period_is_rejected(period):
    with pytest.raises(errors.InvalidParametersError, match="period_interval"):
        candles(make_exchange(), TICKER, T0_S, T0_S + 60, period)


def test_end_before_start_and_unknown_market_are_rejected():
    ex = make_exchange()

    with pytest.raises(errors.InvalidParametersError, match="end_ts"):
        candles(ex, TICKER, T0_S + 60, T0_S, 1)
    with pytest.raises(errors.MarketNotFoundError):
        candles(ex, "NOPE", T0_S, T0_S + 60, 1)


def test_quote_history_keeps_one_entry_per_minute_with_changes():
    history = QuoteHistory()

    history.record(1_000, 100, 110, 0)
    history.record(1_500, 100, 110, 0)  # no change: nothing recorded
    history.record(60_000, 101, 110, 0)  # still minute 1: (0, 60 s]
    history.record(60_001, 101, 111, 5)

    assert len(history) == 2
    assert history.keys(0, 10) == [1, 2]
    assert history.state_at(0) == (None, None, 0)
    assert history.state_at(1) == (101, 110, 0)
    assert history.state_at(99) == (101, 111, 5)
    assert history.last_key_at_or_before(0) is None
    (second,) = history.minutes(2, 2)
    assert (second.bid.open, second.ask.open, second.ask.close) == (101, 110, 111)


# ------------------------------------------- the longer periods, merged in lazily

_HOUR_MS = 3_600_000


class _EagerHistory:
    """Reference model: every change recorded into every period length at once."""

    def __init__(self, retain):
        self.levels = {p: _Buckets(p * 60_000, retain) for p in PERIOD_MINUTES}
        self.state = (None, None, 0)

    def record(self, ts_ms, bid, ask, open_interest):
        if (bid, ask, open_interest) == self.state:
            return
        for level in self.levels.values():
            bucket = level.current(ts_ms, *self.state)
            bucket.bid.add(bid)
            bucket.ask.add(ask)
            bucket.end_bid, bucket.end_ask = bid, ask
            bucket.open_interest = open_interest
        self.state = (bid, ask, open_interest)


def _summary(level, first=0, last=10**12):
    return [
        (
            key,
            (bucket.bid.open, bucket.bid.high, bucket.bid.low, bucket.bid.close),
            (bucket.ask.open, bucket.ask.high, bucket.ask.low, bucket.ask.close),
            bucket.end_bid,
            bucket.end_ask,
            bucket.open_interest,
        )
        for key, bucket in zip(level.keys(first, last), level.buckets(first, last), strict=True)
    ]


_quotes = st.one_of(st.none(), st.integers(1, 6))
_steps = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 30_000, 59_999, 60_000, 61_000, _HOUR_MS, 25 * _HOUR_MS]),
        _quotes,
        _quotes,
        st.integers(0, 2),
        st.booleans(),  # read the longer periods after this change
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(steps=_steps, retain=st.sampled_from([None, 1, 3]))
def test_longer_periods_read_as_if_every_change_were_recorded_into_them(steps, retain):
    lazy, eager = QuoteHistory(retain), _EagerHistory(retain)
    ts = 1
    for gap, bid, ask, open_interest, read in steps:
        ts += gap
        lazy.record(ts, bid, ask, open_interest)
        eager.record(ts, bid, ask, open_interest)
        if read:
            for period in PERIOD_MINUTES:
                assert _summary(lazy.level(period)) == _summary(eager.levels[period])
    for period in PERIOD_MINUTES:
        assert _summary(lazy.level(period)) == _summary(eager.levels[period])


def test_a_pickled_history_records_on_where_it_stopped():
    history = QuoteHistory()
    history.record(1_000, 100, 110, 0)
    history.record(2_000, 104, 110, 0)
    restored = pickle.loads(pickle.dumps(history))
    restored.record(61_000, 99, 112, 5)
    restored.record(3_600_001, 98, 113, 5)

    assert _summary(restored.level(60)) == [
        (1, (100, 104, 99, 99), (110, 112, 110, 112), 99, 112, 5),
        (2, (99, 99, 98, 98), (112, 113, 112, 113), 98, 113, 5),
    ]


def test_a_history_pickled_with_every_period_up_to_date_loads():
    # a history pickled when each change was recorded into every period length at once: its
    # slots have no `_open`, and its newest minute is already in the longer periods
    history = QuoteHistory()
    history.record(1_000, 100, 110, 0)
    history.level(60)  # brings the longer periods up to date
    slots = {name: getattr(history, name) for name in ("_ask", "_bid", "_levels", "_open_interest")}
    old = QuoteHistory.__new__(QuoteHistory)
    old.__setstate__((None, slots))

    old.record(2_000, 104, 110, 0)  # the same minute as the last change
    old.record(61_000, 99, 112, 5)

    assert _summary(old.level(60)) == [(1, (100, 104, 99, 99), (110, 112, 110, 112), 99, 112, 5)]
    assert old.keys(0, 10) == [1, 2]
