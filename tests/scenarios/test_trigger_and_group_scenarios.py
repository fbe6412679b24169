"""Exit triggers fire once on the liquidation mark; an order group cancels at its limit."""

from __future__ import annotations

import pytest

from matching import Side, TimeInForce
from simulator.core import errors
from simulator.core.events import ExitTriggerChanged, OrderGroupChanged, OrderUpdated
from simulator.model.orders import PlaceOrder
from tests.simulator.factories import dollars, make_exchange, make_spec

TICKER = "KXBTCPERP"


def _long_position():
    ex = make_exchange(make_spec(reference="6.0000"), fees_enabled=False)
    maker = ex.create_user(balance=dollars("10000")).user_id
    trader = ex.create_user(balance=dollars("100")).user_id
    ex.place_order(maker, PlaceOrder(TICKER, Side.ASK, 60000, 200, "m"))
    ex.place_order(trader, PlaceOrder(TICKER, Side.BID, 60000, 200, "t"))
    ex.place_order(maker, PlaceOrder(TICKER, Side.BID, 58000, 10_000, "mb"))
    ex.place_order(maker, PlaceOrder(TICKER, Side.ASK, 65000, 10_000, "ma"))
    ex.advance(1_000)
    return ex, maker, trader


def _system_orders(ex, after, reason):
    return [
        e.order
        for _, e in ex.events_since(after)
        if isinstance(e, OrderUpdated) and e.created and e.order.order_reason == reason
    ]


def test_stop_loss_fires_once_and_closes_the_position():
    ex, _, trader = _long_position()
    (trigger,) = ex.exit_triggers.set_cross(
        trader, 0, TICKER, stop_loss_price=59000, take_profit_price=64000
    )
    after = ex.journal.last_seq

    ex.set_reference_price(TICKER, 58000)  # mark = median(5.80, 6.50, 5.80) <= stop 5.90
    ex.set_reference_price(TICKER, 57000)
    ex.advance(5_000)

    (order,) = _system_orders(ex, after, "take_profit_stop_loss")
    assert (order.side, order.count, order.reduce_only, order.order_source) == (
        Side.ASK,
        200,
        True,
        "system",
    )
    assert ex.subaccount(trader, 0).position(TICKER).qty == 0
    final = [e.trigger for _, e in ex.events_since(after) if isinstance(e, ExitTriggerChanged)][-1]
    assert (final.id, final.status, final.triggered_leg) == (trigger.id, "filled", "stop_loss")
    assert final.filled_count == 200


def test_take_profit_fires_on_a_rising_mark():
    ex, _, trader = _long_position()
    ex.exit_triggers.set_cross(trader, 0, TICKER, take_profit_price=62000)
    after = ex.journal.last_seq

    ex.set_reference_price(TICKER, 63000)  # mark = median(5.80, 6.50, 6.30) >= 6.20

    (order,) = _system_orders(ex, after, "take_profit_stop_loss")
    assert order.side is Side.ASK
    assert ex.subaccount(trader, 0).position(TICKER).qty == 0


def test_stop_at_the_liquidation_price_is_refused():
    ex = make_exchange(make_spec(reference="6.0000", leverage={"1000": 5.0}), fees_enabled=False)
    maker = ex.create_user(balance=dollars("10000")).user_id
    trader = ex.create_user(balance=dollars("2")).user_id
    ex.place_order(maker, PlaceOrder(TICKER, Side.ASK, 60000, 100, "m"))
    ex.place_order(trader, PlaceOrder(TICKER, Side.BID, 60000, 100, "t"))
    # liquidation price (6 - 2) / (1 - 1/6.5) = 4.7272...

    with pytest.raises(errors.StopLossPastLiquidationError):
        ex.exit_triggers.set_cross(trader, 0, TICKER, stop_loss_price=47000)

    assert ex.exit_triggers.set_cross(trader, 0, TICKER, stop_loss_price=48000)


def test_order_group_cancels_its_orders_when_fills_exceed_the_limit():
    ex = make_exchange(make_spec(reference="6.0000"), fees_enabled=False)
    maker = ex.create_user(balance=dollars("10000")).user_id
    taker = ex.create_user(balance=dollars("10000")).user_id
    group = ex.groups.create(maker, 0, 500)  # 5 contracts per rolling 15 s
    ids = [
        ex.place_order(
            maker,
            PlaceOrder(TICKER, Side.ASK, 60000 + i, 300, f"g{i}", order_group_id=group.id),
        ).order.order_id
        for i in range(3)
    ]
    after = ex.journal.last_seq

    ex.place_order(
        taker,
        PlaceOrder(
            TICKER, Side.BID, 60002, 600, "buy", time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL
        ),
    )

    assert [ex.orders[i].remaining for i in ids] == [0, 0, 0]
    assert ex.orders[ids[2]].fill_count == 0  # cancelled, not filled
    actions = [e.action for _, e in ex.events_since(after) if isinstance(e, OrderGroupChanged)]
    assert actions == ["triggered"]
    with pytest.raises(errors.OrderGroupTriggeredError):
        ex.place_order(
            maker, PlaceOrder(TICKER, Side.ASK, 61000, 100, "again", order_group_id=group.id)
        )
    ex.groups.reset(maker, group.id)
    ex.place_order(
        maker, PlaceOrder(TICKER, Side.ASK, 61000, 100, "again", order_group_id=group.id)
    )
    assert ex.groups.get(maker, group.id).orders


def test_order_group_window_forgets_fills_after_15_seconds():
    ex = make_exchange(make_spec(reference="6.0000"), fees_enabled=False)
    maker = ex.create_user(balance=dollars("10000")).user_id
    taker = ex.create_user(balance=dollars("10000")).user_id
    group = ex.groups.create(maker, 0, 500)
    ask = PlaceOrder(TICKER, Side.ASK, 60000, 1_000, "g", order_group_id=group.id)
    order_id = ex.place_order(maker, ask).order.order_id
    buy = PlaceOrder(
        TICKER, Side.BID, 60000, 400, "b1", time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL
    )

    ex.place_order(taker, buy)
    ex.advance(15_000)
    ex.place_order(
        taker,
        PlaceOrder(
            TICKER, Side.BID, 60000, 400, "b2", time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL
        ),
    )

    assert ex.orders[order_id].remaining == 200
    assert not ex.groups.get(maker, group.id).triggered
