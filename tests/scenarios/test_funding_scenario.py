"""24 simulated hours of funding with a constant 1% impact premium: three exact payments."""

from __future__ import annotations

import pytest

from matching import Side
from simulator.core import errors
from simulator.core.events import FundingPaid, FundingRateSet
from simulator.core.money import RATE_SCALE
from simulator.model.orders import PlaceOrder
from simulator.risk.funding_views import (
    funding_estimate,
    funding_history,
    historical_rates,
    premium_index,
)
from tests.simulator.factories import dollars, make_exchange, make_spec

TICKER = "KXBTCPERP"
# 2026-06-14 04:00 UTC = 00:00 EDT, a crypto funding instant
FUNDING_0 = 1_781_409_600_000
EIGHT_HOURS = 8 * 3_600_000


def _setup():
    ex = make_exchange(
        make_spec(reference="6.0000"),
        start_ms=FUNDING_0,
        fees_enabled=False,
        default_notional_limit=dollars("1000000"),
    )
    maker = ex.create_user(balance=dollars("100000")).user_id
    long = ex.create_user(balance=dollars("1000")).user_id
    short = ex.create_user(balance=dollars("1000")).user_id
    ex.place_order(short, PlaceOrder(TICKER, Side.ASK, 60650, 1_000, "s"))
    ex.place_order(long, PlaceOrder(TICKER, Side.BID, 60650, 1_000, "l"))
    # bids 1% over the index absorb the $10,000 impact notional; asks are above them
    ex.place_order(maker, PlaceOrder(TICKER, Side.BID, 60600, 200_000, "mb"))
    ex.place_order(maker, PlaceOrder(TICKER, Side.ASK, 60700, 200_000, "ma"))
    return ex, maker, long, short


def test_funding_over_24_hours_pays_three_times_with_exact_rounding():
    ex, maker, long, short = _setup()
    after = ex.journal.last_seq
    cash_long = ex.subaccount(long, 0).cash
    cash_short = ex.subaccount(short, 0).cash

    ex.advance(3 * EIGHT_HOURS)

    events = [e for _, e in ex.events_since(after)]
    rates = [e for e in events if isinstance(e, FundingRateSet)]
    assert [r.funding_time_ms for r in rates] == [FUNDING_0 + k * EIGHT_HOURS for k in (1, 2, 3)]
    # the first second of the first interval had an empty book sample (invalid, dampened to 0)
    first = round(RATE_SCALE // 100 * 28_799 / 28_800)
    assert [r.rate for r in rates] == [first, RATE_SCALE // 100, RATE_SCALE // 100]
    assert {r.mark_price for r in rates} == {60600}  # settlement mark = liquidation mark
    paid = [e for e in events if isinstance(e, FundingPaid)]
    by_user = {(p.user_id, p.funding_time_ms): p.amount for p in paid}
    # long pays 10 x 6.06 x F rounded away from zero; short receives it rounded toward zero
    assert by_user[(long, rates[0].funding_time_ms)] == dollars("-0.6060")
    assert by_user[(short, rates[0].funding_time_ms)] == dollars("0.6059")
    for rate in rates[1:]:
        assert by_user[(long, rate.funding_time_ms)] == dollars("-0.6060")
        assert by_user[(short, rate.funding_time_ms)] == dollars("0.6060")
    assert not any(p.user_id == maker for p in paid)
    assert ex.subaccount(long, 0).cash - cash_long == dollars("-1.8180")
    assert ex.subaccount(short, 0).cash - cash_short == dollars("1.8179")
    assert ex.house_cash == dollars("0.0001")
    assert ex.money_supply() == dollars("102000")


def test_funding_history_is_recorded_per_market():
    ex, _, _, _ = _setup()

    ex.advance(3 * EIGHT_HOURS)

    history = ex.markets[TICKER].funding_history
    assert len(history) == 3
    assert all(h.ticker == TICKER for h in history)


def test_funding_estimate_tracks_the_premium_between_fundings():
    ex, _, _, _ = _setup()
    ex.advance(EIGHT_HOURS)

    ex.advance(3_600_000)
    rate, computed = ex.pricing.funding_estimate(ex.markets[TICKER])

    assert rate == RATE_SCALE // 100
    assert computed == ex.now()


def test_zero_premium_pays_nothing_but_records_the_rate():
    ex = make_exchange(make_spec(reference="6.0000"), start_ms=FUNDING_0, fees_enabled=False)
    a = ex.create_user(balance=dollars("1000")).user_id
    b = ex.create_user(balance=dollars("1000")).user_id
    ex.place_order(a, PlaceOrder(TICKER, Side.ASK, 60000, 100, "a"))
    ex.place_order(b, PlaceOrder(TICKER, Side.BID, 60000, 100, "b"))
    after = ex.journal.last_seq

    ex.advance(EIGHT_HOURS)

    events = [e for _, e in ex.events_since(after)]
    assert [e.rate for e in events if isinstance(e, FundingRateSet)] == [0]
    assert not [e for e in events if isinstance(e, FundingPaid)]


def test_funding_views_report_history_rates_estimate_and_premium():
    ex, _, long, short = _setup()
    ex.advance(3 * EIGHT_HOURS + 60_000)

    paid = funding_history(ex, long, FUNDING_0, FUNDING_0 + 3 * EIGHT_HOURS + 1)
    rates = historical_rates(ex, TICKER)
    estimate = funding_estimate(ex, TICKER)
    points = premium_index(ex, TICKER, ex.now() // 1000 - 10, ex.now() // 1000)

    assert [p.amount for p in paid] == [dollars("-0.6060")] * 3
    assert funding_history(ex, short, FUNDING_0, FUNDING_0 + 1) == []
    assert len(rates) == 3
    assert estimate.funding_rate == RATE_SCALE // 100
    assert estimate.next_funding_ms == FUNDING_0 + 4 * EIGHT_HOURS
    assert estimate.mark_price == 60600
    assert estimate.premium_index == RATE_SCALE // 100
    assert [v for _, v in points] == [RATE_SCALE // 100] * 11


def test_premium_index_window_is_capped_at_one_hour():
    ex, _, _, _ = _setup()

    with pytest.raises(errors.InvalidParametersError):
        premium_index(ex, TICKER, 0, 3_601)


def test_metals_fund_at_ten_new_york_on_weekdays_only():
    # Friday 2026-06-19 09:59 EDT = 13:59 UTC
    friday = 1_781_877_540_000
    ex = make_exchange(make_spec("KXGOLDPERP", reference="4.0215"), start_ms=friday)

    ex.advance(3 * 24 * 3_600_000 + 120_000)  # to Monday 10:01 EDT

    times = [e.funding_time_ms for _, e in ex.events_since(0) if isinstance(e, FundingRateSet)]
    assert times == [friday + 60_000, friday + 60_000 + 3 * 24 * 3_600_000]
