"""Noise takers: random IOC orders at a rate, deterministic, within their position limit."""

from __future__ import annotations

import collections
from typing import Any

import msgspec
import pytest

from matching import Side
from simulator.core.clock import ManualClock
from simulator.core.events import FillExecuted
from simulator.exchange import Exchange
from simulator.model.orders import PlaceOrder
from simulator.server.noise_takers import TakerConfig, TakerSettings
from simulator.server.scenarios import load_scenario
from simulator.server.snapshots import build, export_state, import_state
from simulator.server.state_hash import state_hash

TAKER = "noise-taker"
BTC, ETH, SOL = "KXBTCPERP", "KXETHPERP", "KXSOLPERP"
HOUR = 3_600_000


def _exchange(scenario: str = "default", seed: int | None = None, **takers: Any) -> Exchange:
    base = load_scenario(scenario)
    config = msgspec.convert(takers, TakerConfig)
    scenario_ = msgspec.structs.replace(base, takers=config)
    return build(scenario_, ManualClock(scenario_.start_ms), seed)


def _taker_fills(ex: Exchange) -> list[FillExecuted]:
    return [
        event
        for _, event in ex.events_since(0)
        if isinstance(event, FillExecuted) and event.fill.user_id == TAKER
    ]


def _taker_orders(ex: Exchange) -> dict[str, list[str]]:
    """Per market, the order ids of the taker's orders, in order."""
    orders: dict[str, list[str]] = collections.defaultdict(list)
    for record in ex.orders.values():
        if record.user_id == TAKER:
            orders[record.ticker].append(record.order_id)
    return orders


def test_takers_trade_every_market_at_about_their_rate() -> None:
    ex = _exchange(rate_per_minute=30, max_size="5.00")
    ex.advance(HOUR)
    orders = _taker_orders(ex)
    assert sorted(orders) == [BTC, ETH, SOL]
    for ids in orders.values():  # 1,800 expected an hour; intervals uniform up to twice 2 s
        assert 1_600 <= len(ids) <= 2_000
    fills = _taker_fills(ex)
    assert fills and all(f.fill.is_taker for f in fills)
    assert {f.fill.count for f in fills} <= set(range(100, 501, 100))
    assert not ex.live_orders(TAKER)  # IOC: nothing of theirs rests


def test_the_same_seed_gives_the_same_orders_and_another_seed_others() -> None:
    runs = []
    for seed in (1, 1, 2):
        ex = _exchange(seed=seed, rate_per_minute=20)
        ex.advance(HOUR // 4)
        runs.append((state_hash(ex), [f.fill.trade_id for f in _taker_fills(ex)]))
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]


def test_one_market_draws_do_not_depend_on_the_others() -> None:
    """Each market has its own random source: adding a market leaves BTC's flow as it was."""
    one = _exchange(tickers=[BTC], rate_per_minute=20, buy_percent=100, max_position="50.00")
    three = _exchange(rate_per_minute=20, buy_percent=100, max_position="50.00")
    for ex in (one, three):
        ex.advance(HOUR // 4)

    def btc_sizes(ex: Exchange) -> list[int]:
        return [r.count for r in ex.orders.values() if r.user_id == TAKER and r.ticker == BTC]

    assert btc_sizes(one) and btc_sizes(one) == btc_sizes(three)


def test_the_position_limit_turns_the_flow_back_toward_flat() -> None:
    ex = _exchange(rate_per_minute=120, buy_percent=100, max_size="10.00", max_position="40.00")
    ex.advance(HOUR // 2)
    sells = [f for f in _taker_fills(ex) if f.fill.side is Side.ASK]
    assert sells  # buying only, it had to sell back at its limit
    positions = ex.users[TAKER].subaccounts[0].positions
    for ticker in (BTC, ETH, SOL):
        assert 0 < positions[ticker].qty <= 4_000 + 1_000


def test_buy_percent_zero_only_sells_and_overrides_apply_per_market() -> None:
    ex = _exchange(buy_percent=0, rate_per_minute=60, markets={ETH: TakerSettings(buy_percent=100)})
    ex.advance(HOUR // 4)
    sides = collections.defaultdict(set)
    for f in _taker_fills(ex):
        sides[f.fill.ticker].add(f.fill.side)
    assert sides[BTC] == {Side.ASK} and sides[SOL] == {Side.ASK}
    assert sides[ETH] == {Side.BID}


def test_nothing_is_sent_without_an_opposite_side() -> None:
    ex = _exchange("bare", rate_per_minute=600)
    ex.advance(HOUR // 6)
    assert not _taker_orders(ex)
    # a lone ask appears: the next buy takes it
    ex.create_user(user_id="seller", api_key_id="k-seller", balance=10**12)
    ex.place_order("seller", PlaceOrder(BTC, Side.ASK, 63_000, 50_000, "s1"))
    ex.advance(60_000)
    assert any(f.fill.ticker == BTC for f in _taker_fills(ex))


def test_a_snapshot_of_a_market_with_takers_replays_to_the_same_state() -> None:
    ex = _exchange(rate_per_minute=30)
    ex.advance(HOUR // 6)
    ex.place_order("demo-user", PlaceOrder(ETH, Side.BID, 34_000, 100, "mine"))
    ex.advance(HOUR // 6)
    assert state_hash(import_state(export_state(ex))) == state_hash(ex)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"min_size": "5.00", "max_size": "2.00"}, "min_size for KXBTCPERP is above its max_size"),
        ({"max_size": "1.50"}, "max_size for KXBTCPERP must be a positive whole count"),
        ({"max_position": "0"}, "max_position for KXBTCPERP must be positive"),
        ({"tickers": ["NOPE"]}, "takers name markets that are not traded here: ['NOPE']"),
    ],
)
def test_bad_taker_settings_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _exchange(**config)


@pytest.mark.parametrize("config", [{"rate_per_minute": 0}, {"buy_percent": 101}, {"x": 1}])
def test_a_takers_block_is_decoded_strictly(config: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(config, TakerConfig)
