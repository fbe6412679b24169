"""The house market maker: its ladder, determinism, re-centring and trading against it."""

from __future__ import annotations

import msgspec
import pytest

from matching import Side, TimeInForce
from simulator.core.clock import ManualClock
from simulator.core.events import FundingRateSet
from simulator.model.orders import PlaceOrder
from simulator.server.bots import LiquidityConfig, QuoteSettings, attach_liquidity
from simulator.server.scenarios import build_exchange, load_scenario
from tests.simulator.factories import dollars, make_exchange

LP = "liquidity-provider"
BTC = "KXBTCPERP"


def _ladder(ex, ticker=BTC):
    """(bids, asks) of the book as [(price, count)], best first."""
    depth = ex.markets[ticker].book.depth()
    return list(depth.bids), list(depth.asks)


def _house_orders(ex, ticker=BTC):
    """{(side, price): order id} of the house user's resting orders."""
    return {(r.side, r.price): r.order_id for r in ex.live_orders(LP) if r.ticker == ticker}


def _small(**overrides):
    """A 3-level BTC ladder, 10 ticks apart, 5 ticks off the reference, 10 contracts each."""
    base = LiquidityConfig(tickers=[BTC], levels=3, spacing_ticks=10, offset_ticks=5, size="10.00")
    return msgspec.structs.replace(base, **overrides)


def _default_exchange(seed=None):
    scenario = load_scenario("default")
    return build_exchange(scenario, ManualClock(scenario.start_ms), seed)


def test_the_default_scenario_quotes_every_market_at_start():
    ex = _default_exchange()

    # BTC: reference 6.2590, 8 levels 10 ticks apart, at least 5 ticks away, 250 contracts
    assert _ladder(ex) == (
        [(62_580 - 10 * i, 25_000) for i in range(8)],
        [(62_600 + 10 * i, 25_000) for i in range(8)],
    )
    # ETH: reference 3.4120, 500 contracts
    assert _ladder(ex, "KXETHPERP") == (
        [(34_110 - 10 * i, 50_000) for i in range(8)],
        [(34_130 + 10 * i, 50_000) for i in range(8)],
    )
    # SOL: reference 14.8350 on a 40-tick grid: bid 14.8320, ask 14.8360, 50 contracts
    assert _ladder(ex, "KXSOLPERP") == (
        [(148_320 - 40 * i, 5_000) for i in range(8)],
        [(148_360 + 40 * i, 5_000) for i in range(8)],
    )
    orders = ex.live_orders(LP)
    assert len(orders) == 48
    assert all(o.post_only and o.time_in_force is TimeInForce.GOOD_TILL_CANCELED for o in orders)
    assert ex.fills == []
    assert ex.live_orders("demo-user") == []
    house = ex.users[LP]
    assert house.subaccounts[0].cash == dollars("100000000")
    assert house.notional_limit_overrides == dict.fromkeys(
        ["KXBTCPERP", "KXETHPERP", "KXSOLPERP"], dollars("1000000000")
    )
    assert house.api_keys[0].public_key_pem is None  # nobody can sign in as the house


def test_the_bare_scenario_has_no_liquidity():
    scenario = load_scenario("bare")
    ex = build_exchange(scenario, ManualClock(scenario.start_ms))

    assert scenario.liquidity is None
    assert LP not in ex.users
    assert _ladder(ex) == ([], [])


def _house_state(ex):
    return [
        (o.order_id, o.client_order_id, o.ticker, o.side, o.price, o.remaining)
        for o in ex.live_orders(LP)
    ]


def test_the_same_seed_gives_the_same_orders():
    first, second, other = _default_exchange(), _default_exchange(), _default_exchange(seed=2)
    for ex in (first, second, other):
        ex.advance(119_999)
    centre = first.markets[BTC].reference[0]  # published at 00:01:59
    for ex in (first, second, other):
        ex.advance(1)  # the refresh at 00:02:00 (before that second's feed tick)

    assert _house_state(first) == _house_state(second)
    assert first.events_since(0) == second.events_since(0)
    assert _house_state(first) != _house_state(other)  # other ids and another reference walk
    # the walk moved the reference; the ladder followed it
    assert centre != 62_590
    bids, asks = _ladder(first)
    assert bids[0][0] == (centre - 5) // 10 * 10
    assert asks[0][0] == -(-(centre + 5) // 10) * 10


def test_the_ladder_re_centres_at_the_next_refresh_with_amends():
    ex = make_exchange()
    attach_liquidity(ex, _small())
    before = _house_orders(ex)
    assert _ladder(ex) == (
        [(62_580, 1_000), (62_570, 1_000), (62_560, 1_000)],
        [(62_600, 1_000), (62_610, 1_000), (62_620, 1_000)],
    )

    ex.set_reference_price(BTC, 62_601)
    ex.advance(4_999)
    assert _house_orders(ex) == before  # nothing moves before the refresh

    ex.advance(1)
    # best bid 6.2590 (10-tick grid, >= 5 ticks under 6.2601), best ask 6.2610
    assert _ladder(ex) == (
        [(62_590, 1_000), (62_580, 1_000), (62_570, 1_000)],
        [(62_610, 1_000), (62_620, 1_000), (62_630, 1_000)],
    )
    after = _house_orders(ex)
    # only the orders that left the ladder moved: the same six orders, four untouched
    assert sorted(after.values()) == sorted(before.values())
    for key in [(Side.BID, 62_580), (Side.BID, 62_570), (Side.ASK, 62_610), (Side.ASK, 62_620)]:
        assert after[key] == before[key]
    assert after[(Side.BID, 62_590)] == before[(Side.BID, 62_560)]
    assert after[(Side.ASK, 62_630)] == before[(Side.ASK, 62_600)]


def test_a_fall_through_the_whole_ladder_moves_bids_first_and_never_trades():
    ex = make_exchange()
    attach_liquidity(ex, _small())
    ex.set_reference_price(BTC, 62_300)

    ex.advance(5_000)

    assert _ladder(ex) == (
        [(62_290, 1_000), (62_280, 1_000), (62_270, 1_000)],
        [(62_310, 1_000), (62_320, 1_000), (62_330, 1_000)],
    )
    assert ex.fills == []


def test_quotes_stay_inside_another_users_resting_orders():
    ex = make_exchange()
    attach_liquidity(ex, _small())
    user = ex.create_user(balance=dollars("1000")).user_id
    ex.place_order(user, PlaceOrder(BTC, Side.ASK, 62_585, 100, "inside", post_only=True))
    ex.set_reference_price(BTC, 62_700)

    ex.advance(5_000)

    # the bids would start at 6.2690 but stay under the user's ask at 6.2585
    bids, asks = _ladder(ex)
    assert bids == [(62_580, 1_000), (62_570, 1_000), (62_560, 1_000)]
    assert asks == [(62_585, 100), (62_710, 1_000), (62_720, 1_000), (62_730, 1_000)]
    assert ex.fills == []


def test_a_crossing_ioc_fills_against_the_ladder_and_the_ladder_refills():
    ex = make_exchange()
    attach_liquidity(ex, _small())
    taker = ex.create_user(balance=dollars("1000")).user_id

    result = ex.place_order(
        taker,
        PlaceOrder(BTC, Side.BID, 62_610, 1_500, "take", TimeInForce.IMMEDIATE_OR_CANCEL),
    )

    # 10 contracts at 6.2600, then 5 of the 10 at 6.2610
    assert result.fill_count == 1_500
    assert result.fill_value == 1_000 * 62_600 + 500 * 62_610
    position = ex.users[taker].subaccounts[0].positions[BTC]
    assert position.qty == 1_500
    assert ex.users[LP].subaccounts[0].positions[BTC].qty == -1_500
    assert _ladder(ex)[1] == [(62_610, 500), (62_620, 1_000)]

    ex.advance(5_000)

    assert _ladder(ex)[1] == [(62_600, 1_000), (62_610, 1_000), (62_620, 1_000)]
    assert len(ex.fills) == 4  # two executions, each with a maker and a taker side


def test_paused_markets_are_not_quoted_and_are_picked_up_again():
    ex = make_exchange()
    ex.set_trading_active(False)
    attach_liquidity(ex, _small())
    assert _ladder(ex) == ([], [])

    ex.set_trading_active(True)
    ex.advance(5_000)

    assert len(_house_orders(ex)) == 6


def test_per_market_overrides_and_config_errors():
    ex = make_exchange()
    config = _small(
        tickers=[BTC, "KXSOLPERP"],
        markets={"KXSOLPERP": QuoteSettings(levels=1, spacing_ticks=100, size="2.00")},
    )
    attach_liquidity(ex, config)
    assert _ladder(ex, "KXSOLPERP") == ([(148_300, 200)], [(148_400, 200)])
    assert _ladder(ex, "KXETHPERP") == ([], [])

    with pytest.raises(ValueError, match="KXNOPE"):
        attach_liquidity(make_exchange(), _small(tickers=["KXNOPE"]))
    with pytest.raises(ValueError, match="whole count"):
        attach_liquidity(make_exchange(), _small(size="0.50"))
    with pytest.raises(msgspec.ValidationError, match="levels"):
        msgspec.json.decode(b'{"levels": 0}', type=LiquidityConfig)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"spread": 3}', type=LiquidityConfig)


def test_a_skew_centres_the_ladder_off_the_reference():
    up, down = make_exchange(), make_exchange()
    attach_liquidity(up, _small(skew_bps=100))  # centre 6.2590 + 1 % = 6.3215 (ticks floored)
    attach_liquidity(down, _small(skew_bps=-100))  # 6.2590 - 1 % = 6.1964 (floored)
    assert _ladder(up) == (
        [(63_210, 1_000), (63_200, 1_000), (63_190, 1_000)],
        [(63_220, 1_000), (63_230, 1_000), (63_240, 1_000)],
    )
    assert _ladder(down) == (
        [(61_950, 1_000), (61_940, 1_000), (61_930, 1_000)],
        [(61_970, 1_000), (61_980, 1_000), (61_990, 1_000)],
    )


@pytest.mark.parametrize(("skew", "sign"), [(30, 1), (-30, -1), (0, 0)])
def test_a_skewed_maker_keeps_funding_on_one_side(skew, sign):
    ex = make_exchange()
    config = LiquidityConfig(levels=8, size="500.00", skew_bps=skew)  # past every impact notional
    attach_liquidity(ex, config)
    ex.advance(8 * 3_600_000)  # to the first crypto_8h funding time
    rates = {e.ticker: e.rate for _, e in ex.events_since(0) if isinstance(e, FundingRateSet)}
    assert sorted(rates) == [BTC, "KXETHPERP", "KXSOLPERP"]
    assert all((rate > 0) - (rate < 0) == sign for rate in rates.values()), rates


def test_a_maker_at_its_position_limit_stops_adding_to_it():
    ex = make_exchange()
    attach_liquidity(ex, _small(max_position="15.00"))
    ex.create_user(user_id="seller", api_key_id="k-seller", balance=dollars("10000"))
    # sell 20 contracts into the bids: the maker is long 20, over its 15
    ex.place_order(
        "seller", PlaceOrder(BTC, Side.ASK, 62_570, 2_000, "s1", TimeInForce.IMMEDIATE_OR_CANCEL)
    )
    ex.advance(5_000)
    bids, asks = _ladder(ex)
    assert bids == [] and len(asks) == 3  # no more bids; asks as before
    # buy 10 back: long 10, under the limit again, and the bids return at the next refresh
    ex.place_order(
        "seller", PlaceOrder(BTC, Side.BID, 62_600, 1_000, "b1", TimeInForce.IMMEDIATE_OR_CANCEL)
    )
    ex.advance(5_000)
    bids, _ = _ladder(ex)
    assert [price for price, _ in bids] == [62_580, 62_570, 62_560]


def test_a_non_positive_maker_position_limit_is_refused():
    with pytest.raises(ValueError, match="max_position for KXBTCPERP must be positive"):
        attach_liquidity(make_exchange(), _small(max_position="0"))
