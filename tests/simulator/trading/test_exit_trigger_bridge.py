"""Exit triggers through the exchange: trailing stops, anchored brackets, position changes."""

from __future__ import annotations

import pytest

from matching import Side, TimeInForce
from simulator.core import errors
from simulator.model.orders import PlaceOrder
from simulator.risk import views
from tests.simulator.factories import dollars, make_exchange, make_spec

BTC = "KXBTCPERP"


@pytest.fixture
def market():
    ex = make_exchange(make_spec(reference="6.0000"), fees_enabled=False)
    maker = ex.create_user(balance=dollars("10000")).user_id
    trader = ex.create_user(balance=dollars("100")).user_id
    ex.place_order(maker, PlaceOrder(BTC, Side.BID, 50000, 10_000, "deep-bid"))
    ex.place_order(maker, PlaceOrder(BTC, Side.ASK, 70000, 10_000, "deep-ask"))
    return ex, maker, trader


def _go_long(ex, maker, trader, count=100):
    ex.place_order(maker, PlaceOrder(BTC, Side.ASK, 60000, count, "sell"))
    ex.place_order(trader, PlaceOrder(BTC, Side.BID, 60000, count, "buy"))


def test_trailing_stop_follows_the_mark_up_and_fires_on_the_way_down(market):
    ex, maker, trader = market
    _go_long(ex, maker, trader)
    ex.advance(1_000)
    (trigger,) = ex.exit_triggers.set_cross(trader, 0, BTC, kind="trailing", trail_amount=1_000)

    ex.set_reference_price(BTC, 63000)
    view = ex.exit_triggers.book.get(trigger.id)
    assert (view.watermark_price, view.effective_stop_price) == (63000, 62000)
    ex.set_reference_price(BTC, 62500)
    assert ex.subaccount(trader, 0).position(BTC).qty == 100
    ex.set_reference_price(BTC, 62000)

    assert ex.subaccount(trader, 0).position(BTC).qty == 0
    assert ex.exit_triggers.book.get(trigger.id).status == "filled"


def test_anchored_bracket_waits_for_its_entry_order_then_protects_the_fill(market):
    ex, maker, trader = market
    entry = ex.place_order(trader, PlaceOrder(BTC, Side.BID, 60000, 300, "entry")).order

    (trigger,) = ex.exit_triggers.set_cross(
        trader,
        0,
        BTC,
        stop_loss_price=55000,
        anchor_order_id=entry.order_id,
        client_trigger_id="t-1",
    )
    assert trigger.status == "pending_on_entry"
    ex.place_order(
        maker,
        PlaceOrder(BTC, Side.ASK, 60000, 200, "hit", time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL),
    )

    view = ex.exit_triggers.book.get(trigger.id)
    assert (view.status, view.count) == ("active", 200)


def test_unknown_anchor_is_unavailable(market):
    ex, _, trader = market

    with pytest.raises(errors.AnchorOrderUnavailableError):
        ex.exit_triggers.set_cross(
            trader, 0, BTC, stop_loss_price=55000, anchor_order_id="nope", client_trigger_id="x"
        )


def test_closing_the_position_cancels_its_triggers(market):
    ex, maker, trader = market
    _go_long(ex, maker, trader)
    (trigger,) = ex.exit_triggers.set_cross(trader, 0, BTC, take_profit_price=68000)

    ex.place_order(trader, PlaceOrder(BTC, Side.ASK, 50000, 100, "close"))

    view = ex.exit_triggers.book.get(trigger.id)
    assert (view.status, view.status_reason) == ("canceled", "position_closed")


def test_a_stop_loss_may_not_reach_the_risk_views_liquidation_price(market):
    ex, maker, trader = market
    _go_long(ex, maker, trader, count=5_000)
    (row,) = views.risk(ex, trader).positions
    liquidation = row.estimated_liquidation_price
    assert liquidation is not None

    with pytest.raises(errors.StopLossPastLiquidationError):
        ex.exit_triggers.set_cross(trader, 0, BTC, stop_loss_price=liquidation)
    (trigger,) = ex.exit_triggers.set_cross(trader, 0, BTC, stop_loss_price=liquidation + 1)

    assert trigger.stop_loss_price == liquidation + 1


def test_trigger_without_a_position_is_refused(market):
    ex, _, trader = market

    with pytest.raises(errors.InvalidOrderError):
        ex.exit_triggers.set_cross(trader, 0, BTC, stop_loss_price=55000)
    with pytest.raises(errors.InvalidOrderError):
        ex.exit_triggers.set_isolated(trader, BTC, stop_loss_price=55000)


def test_trigger_listing_update_and_delete(market):
    ex, maker, trader = market
    _go_long(ex, maker, trader)
    (trigger,) = ex.exit_triggers.set_cross(trader, 0, BTC, stop_loss_price=55000)

    updated = ex.exit_triggers.update(trader, 0, BTC, trigger.id, take_profit_price=68000)
    assert (updated.stop_loss_price, updated.take_profit_price) == (None, 68000)
    assert [t.id for t in ex.exit_triggers.list(trader, 0, BTC)] == [trigger.id]
    ex.exit_triggers.delete(trader, 0, BTC, trigger.id)

    assert ex.exit_triggers.list(trader, 0, BTC) == []
    with pytest.raises(errors.ExitTriggerNotFoundError):
        ex.exit_triggers.delete(trader, 0, BTC, trigger.id)


def test_triggers_wait_while_trading_is_paused(market):
    ex, maker, trader = market
    _go_long(ex, maker, trader)
    (trigger,) = ex.exit_triggers.set_cross(trader, 0, BTC, stop_loss_price=56000)
    ex.set_trading_active(False)

    ex.set_reference_price(BTC, 50000)
    assert ex.exit_triggers.book.get(trigger.id).status == "active"
    ex.set_trading_active(True)

    assert ex.exit_triggers.book.get(trigger.id).status == "filled"
    assert ex.subaccount(trader, 0).position(BTC).qty == 0
