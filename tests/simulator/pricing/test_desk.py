"""Pricing timers: moving time in any steps publishes the same events; funding from running sums.

The per-second path (feed step, sample, ticker) is kept flat and funding extends the estimate's
running premium sums instead of rescanning the interval; these tests fail if either skips or
reorders something observable.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import Side, TimeInForce
from simulator.core.clock import ManualClock
from simulator.core.events import FundingRateSet, TickerChanged
from simulator.core.money import MONEY_SCALE
from simulator.exchange import Exchange
from simulator.model.funding import premium
from simulator.model.orders import PlaceOrder
from simulator.server.scenarios import build_exchange, load_scenario
from simulator.server.state_hash import state_hash
from tests.simulator.factories import T0, dollars, make_exchange

BTC, ETH, SOL = "KXBTCPERP", "KXETHPERP", "KXSOLPERP"
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


def _default_with_positions(seed: int = 1) -> Exchange:
    """The default scenario (walks, the house maker) with a long and a short per market."""
    scenario = load_scenario("default")
    ex = build_exchange(scenario, ManualClock(scenario.start_ms), seed)
    for index, ticker in enumerate((BTC, ETH, SOL)):
        for user, side in ((f"long{index}", Side.BID), (f"short{index}", Side.ASK)):
            ex.create_user(user_id=user, api_key_id=f"key-{user}", balance=dollars("200"))
            book = ex.markets[ticker].book
            best = book.best_ask() if side is Side.BID else book.best_bid()
            assert best is not None
            price = best[0] + 30 if side is Side.BID else best[0] - 30
            order = PlaceOrder(
                ticker, side, price, 300, f"o-{user}", TimeInForce.IMMEDIATE_OR_CANCEL
            )
            ex.place_order(user, order)
    return ex


def _journal(ex: Exchange) -> list[bytes]:
    return [msgspec.json.encode((seq, type(e).__name__, e)) for seq, e in ex.events_since(0)]


def _advance_in(ex: Exchange, steps: list[int]) -> None:
    for ms in steps:
        ex.advance(ms)


SPAN_MS = 10 * MINUTE_MS
STEPPINGS = {
    "seconds": [1_000] * (SPAN_MS // 1_000),
    "odd": [7_777] * 70 + [SPAN_MS - 7_777 * 70],
    "milliseconds first": [1] * 2_500 + [SPAN_MS - 2_500],
    "half seconds off the grid": [499] + [500] * 1_198 + [SPAN_MS - 499 - 500 * 1_198],
}


@pytest.fixture(scope="module")
def one_advance() -> tuple[list[bytes], str]:
    ex = _default_with_positions()
    ex.advance(SPAN_MS)
    return _journal(ex), state_hash(ex)


@pytest.mark.parametrize("stepping", sorted(STEPPINGS))
def test_any_stepping_publishes_the_journal_of_one_long_advance(
    stepping: str, one_advance: tuple[list[bytes], str]
) -> None:
    ex = _default_with_positions()

    _advance_in(ex, STEPPINGS[stepping])

    journal, digest = one_advance
    assert _journal(ex) == journal
    assert state_hash(ex) == digest


def test_every_market_publishes_a_ticker_each_second_its_reference_moves() -> None:
    ex = _default_with_positions()
    start = ex.journal.last_seq
    now = ex.now()

    ex.advance(MINUTE_MS)

    tickers = [e for _, e in ex.events_since(start) if isinstance(e, TickerChanged)]
    for ticker in (BTC, ETH, SOL):
        stamps = [e.ts_ms for e in tickers if e.ticker == ticker]
        assert stamps == [now + k * 1_000 for k in range(1, 61)]


def test_funding_rate_equals_the_full_interval_average_of_the_premium_history() -> None:
    ex = _default_with_positions()
    starts = {ticker: data.funding_start_ms for ticker, data in ex.markets.items()}

    ex.advance(5 * HOUR_MS)  # the 00:00 UTC start crosses the 04:00 UTC (00:00 ET) funding

    fundings = [e for _, e in ex.events_since(0) if isinstance(e, FundingRateSet)]
    assert sorted(e.ticker for e in fundings) == [BTC, ETH, SOL]
    raws = []
    for event in fundings:
        data = ex.markets[event.ticker]
        settings = data.funding_settings
        raw = settings.average(data.premium, starts[event.ticker], event.funding_time_ms)
        raws.append(raw)
        assert event.rate == settings.finalize_rate(raw, event.mark_price)
    assert any(raws)  # the premium did move over the interval


def _skewed(ex: Exchange, ticker: str = BTC) -> None:
    # a maker ladder centred above the index: the premium is positive and moves with the index
    maker = ex.create_user(user_id="maker", api_key_id="key-maker", balance=dollars("10000000"))
    maker.notional_limit_overrides[ticker] = 10**15
    centre, levels = 62_720, 20
    # twice the impact notional a side, so that the impact prices exist
    count = -(-2 * ex.markets[ticker].funding_settings.impact_notional // (centre * levels))
    count = -(-count // 100) * 100
    for level in range(levels):
        for side, price in ((Side.BID, centre - 5 - level), (Side.ASK, centre + 5 + level)):
            ex.place_order("maker", PlaceOrder(ticker, side, price, count, f"m{side}{level}"))


@settings(max_examples=25)
@given(
    moves=st.lists(
        st.tuples(st.integers(1, 900_000), st.integers(62_500, 62_900), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_funding_after_any_reference_moves_equals_the_full_interval_average(
    moves: list[tuple[int, int, bool]],
) -> None:
    # the references the control plane sets land between estimates, on and off the grid
    ex = make_exchange(start_ms=T0 + 3 * HOUR_MS + 30 * MINUTE_MS)
    _skewed(ex)
    data = ex.markets[BTC]
    start = data.funding_start_ms
    for wait, price, peek in moves:
        ex.advance(wait)
        ex.set_reference_price(BTC, price)
        if peek:
            ex.pricing.peek_ticker(data)

    ex.advance(4 * HOUR_MS)

    (funded,) = [
        e for _, e in ex.events_since(0) if isinstance(e, FundingRateSet) and e.ticker == BTC
    ][:1]
    raw = data.funding_settings.average(data.premium, start, funded.funding_time_ms)
    assert funded.rate == data.funding_settings.finalize_rate(raw, funded.mark_price)


def test_a_book_deeper_than_the_first_depth_read_is_priced_in_full() -> None:
    # forty levels a side, the impact notional reaching the 25th: past the first levels read
    ex = make_exchange()
    maker = ex.create_user(user_id="maker", api_key_id="key-maker", balance=dollars("10000000"))
    maker.notional_limit_overrides[BTC] = 10**15
    data = ex.markets[BTC]
    notional = data.funding_settings.impact_notional
    count = -(-notional // (25 * 62_700 * 100)) * 100
    for level in range(40):
        ex.place_order("maker", PlaceOrder(BTC, Side.BID, 62_700 - level, count, f"b{level}"))
        ex.place_order("maker", PlaceOrder(BTC, Side.ASK, 62_800 + level, count, f"a{level}"))
    assert notional > 16 * 62_800 * count

    ex.advance(1_000)

    depth = data.book.depth()
    expected = premium(depth.bids, depth.asks, 62_590, notional)
    assert expected is not None and expected != 0
    assert data.premium.last_point(ex.now()) == (ex.now() // 1_000, expected)


def test_peek_ticker_shows_what_was_just_published() -> None:
    ex = _default_with_positions()
    ex.advance(31_000)  # a second after a re-quote: its tickers show the new ladders
    published = [e for _, e in ex.events_since(0) if isinstance(e, TickerChanged)]

    for ticker, data in ex.markets.items():
        last = [e for e in published if e.ticker == ticker][-1]
        assert ex.pricing.peek_ticker(data) == last


def test_funding_pays_holders_of_a_skewed_book() -> None:
    ex = make_exchange(start_ms=T0 - 4 * HOUR_MS)  # 20:00 UTC, a funding time: a full interval
    _skewed(ex)
    for user in ("long", "short"):
        ex.create_user(user_id=user, api_key_id=f"key-{user}", balance=10_000 * MONEY_SCALE)
    ioc = TimeInForce.IMMEDIATE_OR_CANCEL
    ex.place_order("short", PlaceOrder(BTC, Side.ASK, 62_720, 500, "s"))  # inside the ladder
    ex.place_order("long", PlaceOrder(BTC, Side.BID, 62_720, 500, "l", ioc))

    ex.advance(8 * HOUR_MS + MINUTE_MS)

    (funded,) = [
        e for _, e in ex.events_since(0) if isinstance(e, FundingRateSet) and e.ticker == BTC
    ]
    assert funded.rate > 0
    paid = {p.user_id: p.amount for p in ex.pricing.funding_payments if p.ticker == BTC}
    assert paid["long"] < 0 < paid["short"]
