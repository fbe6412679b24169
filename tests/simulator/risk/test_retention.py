"""Retention: each history kept to its limit (small limits here), oldest first, reproducibly."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from matching import Side, TimeInForce
from simulator.core import errors
from simulator.core.config import ExchangeConfig
from simulator.core.events import FundingPaid, TradeExecuted
from simulator.exchange import Exchange
from simulator.model.candles import QuoteHistory, candles
from simulator.model.market_data import FundingRecord
from simulator.model.orders import PlaceOrder
from simulator.risk.funding_views import funding_history, historical_rates
from simulator.server import snapshots
from simulator.server.scenarios import load_scenario
from simulator.server.state_hash import state_hash
from tests.simulator.factories import T0, dollars, make_exchange

BTC = "KXBTCPERP"
IOC = TimeInForce.IMMEDIATE_OR_CANCEL
PRICE = 62_590


def funded(ex: Exchange, *names: str) -> None:
    for name in names:
        ex.create_user(user_id=name, balance=dollars("5000"))


def place(
    ex: Exchange, user: str, side: Side, cid: str, tif: TimeInForce = IOC, price: int = PRICE
) -> str:
    command = PlaceOrder(BTC, side, price, 100, cid, time_in_force=tif)
    return ex.place_order(user, command).order.order_id


def trade(ex: Exchange, n: int) -> None:
    # n executions of 1 contract: alice rests an ask, bob takes it
    for i in range(n):
        place(ex, "alice", Side.ASK, f"ask-{i}", TimeInForce.GOOD_TILL_CANCELED)
        place(ex, "bob", Side.BID, f"bid-{i}")
        ex.advance(1)


def test_done_orders_beyond_the_limit_go_those_done_longest_ago_first():
    ex = make_exchange(retain_terminal_orders=2)
    funded(ex, "alice", "bob")
    gtc = TimeInForce.GOOD_TILL_CANCELED
    resting = place(ex, "alice", Side.BID, "rest", gtc, PRICE - 10)
    ids = [place(ex, "alice", Side.ASK, f"o{i}", gtc, PRICE + 10) for i in range(4)]
    for i in (2, 0, 3, 1):  # cancelled in this order, a millisecond apart
        ex.advance(1)
        ex.cancel_order("alice", ids[i])
    bob = place(ex, "bob", Side.ASK, "b", gtc, PRICE + 10)

    ex.retention.sweep()

    assert list(ex.orders) == [resting, ids[1], ids[3], bob]
    assert [r.order_id for r in ex.order_index.of("alice")] == [resting, ids[1], ids[3]]
    assert ex.order_index.numbers("alice") == [0, 2, 4]
    assert ex.order_index.count("alice") == 5
    with pytest.raises(errors.OrderNotFoundError):
        ex.order("alice", ids[2])


def test_resting_orders_are_never_dropped():
    ex = make_exchange(retain_terminal_orders=1)
    funded(ex, "alice")
    gtc = TimeInForce.GOOD_TILL_CANCELED
    resting = [place(ex, "alice", Side.BID, f"r{i}", gtc, PRICE - i) for i in range(5)]

    ex.retention.sweep()

    assert list(ex.orders) == resting
    assert len(ex.live_orders("alice")) == 5


def test_fills_beyond_the_limit_go_oldest_first_per_user():
    ex = make_exchange(retain_fills=2)
    funded(ex, "alice", "bob", "carol")
    trade(ex, 3)
    ex.create_user(user_id="dave", balance=dollars("5000"))
    place(ex, "carol", Side.ASK, "c", TimeInForce.GOOD_TILL_CANCELED)
    place(ex, "dave", Side.BID, "d")
    newest = [f.fill_id for f in ex.fills if f.user_id == "alice"][-2:]

    ex.retention.sweep()

    by_user = {u: [ex.fills[p] for p in ex.fill_index.of(u)] for u in ("alice", "bob", "carol")}
    assert [f.fill_id for f in by_user["alice"]] == newest
    assert [len(fills) for fills in by_user.values()] == [2, 2, 1]
    assert [ex.fill_index.dropped(u) for u in ("alice", "bob", "carol")] == [1, 1, 0]
    assert len(ex.fills) == 6


def test_trades_and_funding_rates_beyond_their_limits_go_oldest_first_per_market():
    ex = make_exchange(retain_trades=2, retain_funding_rates=1)
    funded(ex, "alice", "bob")
    trade(ex, 3)
    third = [e.trade for _, e in ex.events_since(0) if isinstance(e, TradeExecuted)][-1]
    data = ex.markets[BTC]
    data.funding_history.extend(FundingRecord(BTC, T0 + i, 0, PRICE) for i in range(2))

    ex.retention.sweep()

    assert ex.trades[BTC][-1] == third and len(ex.trades[BTC]) == 2
    assert ex.trades[BTC].dropped == 1
    assert [r.funding_time_ms for r in historical_rates(ex, BTC)] == [T0 + 1]


def test_funding_payments_beyond_the_limit_go_oldest_first_per_user():
    ex = make_exchange(retain_funding_payments=2)
    funded(ex, "alice", "bob")

    def paid(user: str, when: int) -> FundingPaid:
        return FundingPaid(T0 + when, user, 0, BTC, T0 + when, 1, PRICE, 100, 5)

    ex.pricing.funding_payments.extend(
        paid(user, when) for when in range(4) for user in ("alice", "bob")
    )
    ex.pricing.funding_payments.append(paid("bob", 9))

    ex.retention.sweep()

    alice = funding_history(ex, "alice", T0, T0 + 10)
    bob = funding_history(ex, "bob", T0, T0 + 10)
    assert [p.funding_time_ms - T0 for p in alice] == [2, 3]
    assert [p.funding_time_ms - T0 for p in bob] == [3, 9]


def test_the_quote_history_keeps_its_newest_minutes():
    history = QuoteHistory(retain=4)
    for minute in range(1, 11):
        history.record(minute * 60_000 - 1, 100 + minute, 200 + minute, minute)

    assert 4 <= len(history) <= 6
    assert history.keys(0, 100)[-1] == 10
    assert history.state_at(10) == (110, 210, 10)
    assert history.state_at(10 - len(history)) == (None, None, 0)  # older: as if unrecorded


def test_candles_read_the_quotes_kept():
    ex = make_exchange(retain_candles=2)
    funded(ex, "alice")
    for minute in range(8):
        ex.advance(60_000)
        gtc = TimeInForce.GOOD_TILL_CANCELED
        place(ex, "alice", Side.BID, f"q{minute}", gtc, PRICE - 80 + 10 * minute)

    found = candles(ex, BTC, T0 // 1000, ex.now() // 1000, 1)
    (hourly,) = candles(ex, BTC, T0 // 1000, T0 // 1000 + 3_600, 60)

    assert 2 <= len(ex.markets[BTC].quotes) <= 3
    assert len(found) == len(ex.markets[BTC].quotes)
    assert found[-1].end_ms == T0 + 8 * 60_000
    assert (hourly.bid.low, hourly.bid.high) == (PRICE - 80, PRICE - 10)  # hours kept apart


def test_sweeps_run_by_themselves_every_simulated_minute():
    ex = make_exchange(retain_terminal_orders=10, retain_fills=10, retain_trades=10)
    funded(ex, "alice", "bob")
    trade(ex, 30)
    assert ex.retention.sweeps == 0  # the first check is a minute in

    for _ in range(10):
        ex.advance(60_000)
        trade(ex, 30)
    ex.advance(60_000)

    assert ex.retention.sweeps >= 5
    assert len(ex.orders) <= 2 * 10 + 30
    assert len(ex.fills) <= 2 * 10 + 30
    assert 10 <= len(ex.trades[BTC]) <= 30
    assert ex.trades[BTC].dropped + len(ex.trades[BTC]) == 330


def test_below_the_limits_nothing_changes():
    def run(**config: Any) -> Exchange:
        ex = make_exchange(**config)
        funded(ex, "alice", "bob")
        trade(ex, 50)
        ex.retention.sweep()
        return ex

    kept, huge = run(), run(retain_terminal_orders=10**9, retain_fills=10**9)

    assert state_hash(kept) == state_hash(huge)
    assert len(kept.orders) == 100 and len(kept.fills) == 100


def test_trimming_is_deterministic_and_part_of_the_state():
    def run(**config: Any) -> Exchange:
        ex = make_exchange(**config)
        funded(ex, "alice", "bob")
        for _ in range(3):
            trade(ex, 20)
            ex.advance(60_000)
        return ex

    limits = {"retain_terminal_orders": 3, "retain_fills": 3, "retain_trades": 3}
    first, second, untrimmed = run(**limits), run(**limits), run()

    assert state_hash(first) == state_hash(second) != state_hash(untrimmed)
    assert list(first.orders) == list(second.orders)


def test_a_snapshot_replays_to_the_same_state_with_trimming_in_effect():
    config = {"retain_terminal_orders": 3, "retain_fills": 4, "retain_trades": 5}
    scenario = msgspec.structs.replace(load_scenario("volatile"), config=config)
    ex = snapshots.build(scenario, snapshots.ReplayClock(scenario.start_ms))
    funded(ex, "alice")
    ex.advance(600_000)  # noise takers trade against the house maker
    best = ex.markets[BTC].book.best_ask()
    assert best is not None
    ex.place_order("alice", PlaceOrder(BTC, Side.BID, best[0], 100, "a-1", time_in_force=IOC))
    ex.advance(600_000)

    restored = snapshots.import_state(snapshots.export_state(ex))

    assert ex.retention.sweeps > 0 and ex.trades[BTC].dropped > 0
    assert state_hash(restored) == state_hash(ex)
    assert list(restored.orders) == list(ex.orders)
    assert restored.fills == ex.fills


@pytest.mark.parametrize("name", ["retain_fills", "retain_candles", "journal_retain"])
@pytest.mark.parametrize("value", [0, -1, "5"])
def test_limits_must_be_positive_integers(name: str, value: Any):
    with pytest.raises(ValueError, match=name):
        ExchangeConfig(**{name: value})
