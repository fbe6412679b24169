"""Read models over the exchange's records: orders and fills per user, markets by id."""

from __future__ import annotations

import dataclasses

from matching import Side, TimeInForce
from simulator.exchange import Exchange
from simulator.model.orders import PlaceOrder
from simulator.risk.indexes import FillIndex, MarketIndex, OrderIndex, OrderStatus, order_status
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from simulator.server.state_hash import state_hash
from tests.simulator.factories import dollars, make_exchange, make_spec

BTC, ETH = "KXBTCPERP", "KXETHPERP"
BTC_ID = "5b1c8f0e-2d7a-4c51-9a0e-0c1f6a3b7d01"
IOC = TimeInForce.IMMEDIATE_OR_CANCEL
PRICE = 62_590


def funded(ex: Exchange, *names: str) -> None:
    for name in names:
        ex.create_user(user_id=name, balance=dollars("5000"))


def place(
    ex: Exchange,
    user: str,
    side: Side,
    count: int,
    cid: str,
    tif: TimeInForce = TimeInForce.GOOD_TILL_CANCELED,
) -> str:
    command = PlaceOrder(BTC, side, PRICE, count, cid, time_in_force=tif)
    return ex.place_order(user, command).order.order_id


def test_order_status_names_resting_executed_and_canceled_orders() -> None:
    ex = make_exchange()
    funded(ex, "alice", "bob")
    ask = place(ex, "alice", Side.ASK, 300, "a-1")
    resting = order_status(ex.orders[ask])
    executed = place(ex, "bob", Side.BID, 100, "b-1")
    partial = place(ex, "bob", Side.BID, 500, "b-2", IOC)
    cancelled = place(ex, "alice", Side.ASK, 100, "a-2")
    ex.cancel_order("alice", cancelled)

    statuses = [order_status(ex.orders[oid]) for oid in (ask, executed, partial, cancelled)]

    assert resting is OrderStatus.RESTING
    assert statuses == ["executed", "executed", "canceled", "canceled"]
    assert list(OrderStatus) == ["resting", "canceled", "executed"]


def test_order_index_lists_each_users_orders_and_catches_up() -> None:
    ex = make_exchange()
    funded(ex, "alice", "bob")
    first = place(ex, "alice", Side.BID, 100, "a-1")
    assert [r.order_id for r in ex.order_index.of("alice")] == [first]

    second = place(ex, "bob", Side.BID, 100, "b-1")
    third = place(ex, "alice", Side.BID, 100, "a-2")

    assert [r.order_id for r in ex.order_index.of("alice")] == [first, third]
    assert [r.order_id for r in ex.order_index.of("bob")] == [second]
    assert ex.order_index.of("carol") == []
    assert ex.order_index.of("alice")[0] is ex.orders[first]


def test_fill_index_gives_positions_of_each_users_fills() -> None:
    ex = make_exchange()
    funded(ex, "alice", "bob")
    place(ex, "alice", Side.ASK, 300, "a-1")
    assert ex.fill_index.of("alice") == []

    place(ex, "bob", Side.BID, 100, "b-1")
    place(ex, "bob", Side.BID, 200, "b-2")

    alice = [ex.fills[p] for p in ex.fill_index.of("alice")]
    bob = [ex.fills[p] for p in ex.fill_index.of("bob")]
    assert [(f.user_id, f.count, f.is_taker) for f in alice] == [
        ("alice", 100, False),
        ("alice", 200, False),
    ]
    assert [f.client_order_id for f in bob] == ["b-1", "b-2"]
    assert sorted(ex.fill_index.of("alice") + ex.fill_index.of("bob")) == [0, 1, 2, 3]


def test_indexes_follow_a_market_rename() -> None:
    ex = make_exchange()
    funded(ex, "alice", "bob")
    place(ex, "alice", Side.ASK, 300, "a-1")
    place(ex, "bob", Side.BID, 100, "b-1")
    ex.order_index.of("alice"), ex.fill_index.of("alice"), ex.market_by_id(BTC_ID)

    ex.rename_market(BTC, "KXBTCNEW")
    place_new = PlaceOrder("KXBTCNEW", Side.BID, PRICE, 100, "b-2")
    ex.place_order("bob", place_new)

    assert [r.ticker for r in ex.order_index.of("alice")] == ["KXBTCNEW"]
    assert [ex.fills[p].ticker for p in ex.fill_index.of("bob")] == ["KXBTCNEW"] * 2
    found = ex.market_by_id(BTC_ID)
    assert found is not None and found.ticker == "KXBTCNEW"


def test_market_by_id_finds_markets_and_none_for_an_unknown_id() -> None:
    ex = make_exchange()

    found = ex.market_by_id(BTC_ID)

    assert found is ex.markets[BTC]
    assert ex.market_by_id(BTC_ID[:-1] + "9") is None
    assert ex.market_by_id(BTC) is None


def test_market_index_takes_the_first_of_markets_sharing_an_id() -> None:
    ex = make_exchange(make_spec(BTC), make_spec(ETH, market_id=BTC_ID))

    assert MarketIndex(ex).get(BTC_ID) is ex.markets[BTC]


def test_market_index_sees_markets_replaced_under_it() -> None:
    ex = make_exchange()
    index = MarketIndex(ex)
    assert index.get(BTC_ID) is ex.markets[BTC]
    replacement = dataclasses.replace(ex.markets[BTC])
    replacement.market = dataclasses.replace(
        replacement.market, spec=dataclasses.replace(replacement.market.spec, market_id="other")
    )

    ex.markets[BTC] = replacement

    assert index.get(BTC_ID) is None
    assert index.get("other") is replacement


def test_indexes_built_late_see_every_record() -> None:
    ex = make_exchange()
    funded(ex, "alice", "bob")
    place(ex, "alice", Side.ASK, 300, "a-1")
    place(ex, "bob", Side.BID, 100, "b-1")

    orders, fills = OrderIndex(ex), FillIndex(ex)

    assert orders.of("alice") == ex.order_index.of("alice")
    assert fills.of("bob") == ex.fill_index.of("bob")
    assert [ex.fills[p].user_id for p in fills.of("bob")] == ["bob"]


def test_reading_the_indexes_changes_no_state() -> None:
    ex = make_exchange()
    funded(ex, "alice", "bob")
    place(ex, "alice", Side.ASK, 300, "a-1")
    place(ex, "bob", Side.BID, 100, "b-1")
    before = state_hash(ex)

    ex.order_index.of("alice"), ex.fill_index.of("bob"), ex.market_by_id(BTC_ID)

    assert state_hash(ex) == before


def test_reset_and_import_start_from_the_new_exchanges_records() -> None:
    runtime = Runtime(load_scenario("bare"), clock_mode="manual")
    ex = runtime.exchange
    funded(ex, "alice", "bob")
    place(ex, "alice", Side.ASK, 300, "a-1")
    place(ex, "bob", Side.BID, 100, "b-1")
    assert len(ex.order_index.of("alice")) == len(ex.fill_index.of("bob")) == 1
    exported = runtime.export_state()

    reset = runtime.reset()
    after_reset = (reset.order_index.of("alice"), reset.fill_index.of("bob"))
    imported = runtime.import_state(exported)

    assert after_reset == ([], [])
    assert [r.client_order_id for r in imported.order_index.of("alice")] == ["a-1"]
    assert [imported.fills[p].client_order_id for p in imported.fill_index.of("bob")] == ["b-1"]
