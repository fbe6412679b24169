"""A price move liquidates an under-margined long: margin cancel, system IOC, balances."""

from __future__ import annotations

from matching import Reason, Side
from simulator.core.events import FillExecuted, LiquidationStep, OrderUpdated
from simulator.model.orders import PlaceOrder
from simulator.risk.views import positions
from tests.simulator.factories import dollars, make_exchange, make_spec

TICKER = "KXBTCPERP"


def _setup():
    # leverage 5 everywhere: MM rate = 1 / (1.3 x 5)
    ex = make_exchange(make_spec(reference="6.0000", leverage={"1000": 5.0}))
    maker = ex.create_user(balance=dollars("10000")).user_id
    victim = ex.create_user(balance=dollars("2.0000")).user_id
    ex.place_order(maker, PlaceOrder(TICKER, Side.ASK, 60000, 100, "m-ask"))
    ex.place_order(victim, PlaceOrder(TICKER, Side.BID, 60000, 100, "v-buy"))
    ex.place_order(maker, PlaceOrder(TICKER, Side.BID, 47000, 1000, "m-bid"))
    ex.place_order(maker, PlaceOrder(TICKER, Side.ASK, 70000, 1000, "m-ask2"))
    resting = ex.place_order(victim, PlaceOrder(TICKER, Side.ASK, 69000, 100, "v-ask"))
    ex.advance(1_000)
    return ex, maker, victim, resting.order.order_id


def test_liquidation_setup_leaves_victim_long_and_healthy():
    ex, _, victim, _ = _setup()

    risk = ex.subaccount_risk(victim, 0)

    assert ex.mark(TICKER) == 60000
    assert risk.cash == dollars("1.9928")  # $2 - taker fee ceil(6 x 0.0012)
    assert risk.maintenance_margin == dollars("0.9231")
    assert ex.liquidator.state((victim, 0)) == "ok"


def test_price_move_into_queue_does_not_liquidate():
    ex, _, victim, _ = _setup()
    after = ex.journal.last_seq

    ex.set_reference_price(TICKER, 48000)  # mark 4.80: ratio 0.7385 / 0.7928 = 0.93

    assert ex.mark(TICKER) == 48000
    assert ex.liquidator.state((victim, 0)) == "queued"
    steps = [e for _, e in ex.events_since(after) if isinstance(e, LiquidationStep)]
    assert [s.stage for s in steps] == ["queued"]
    assert positions(ex, victim)[0].position == 100


def test_price_move_past_threshold_liquidates_with_system_order():
    ex, maker, victim, victim_ask = _setup()
    after = ex.journal.last_seq

    ex.set_reference_price(TICKER, 47000)  # mark 4.70: ratio 0.7231 / 0.6928 > 1

    events = [e for _, e in ex.events_since(after)]
    steps = [e.stage for e in events if isinstance(e, LiquidationStep)]
    assert steps == ["started", "order", "finished"]
    cancel = next(
        e for e in events if isinstance(e, OrderUpdated) and e.order.order_id == victim_ask
    )
    assert cancel.order.last_update_reason is Reason.MARGIN_CANCEL
    assert cancel.order.remaining_count == 0
    fills = [e.fill for e in events if isinstance(e, FillExecuted) and e.fill.user_id == victim]
    (fill,) = fills
    assert fill.order_source == "system"
    assert (fill.side, fill.price, fill.count, fill.is_taker) == (Side.ASK, 47000, 100, True)
    assert fill.realized_pnl == dollars("-1.3000")
    assert fill.fee == dollars("0.0057")  # ceil(4.70 x 0.0012)
    system = ex.orders[fill.order_id]
    assert (system.order_source, system.order_reason, system.reduce_only) == (
        "system",
        "liquidation",
        True,
    )
    assert system.price == 37600  # slippage cap: min(0.8 x 4.70, 4.70 - 1,000 ticks)
    assert positions(ex, victim) == []
    assert ex.subaccount(victim, 0).cash == dollars("0.6871")
    assert ex.subaccount(maker, 0).position(TICKER).qty == 0
    assert ex.liquidator.state((victim, 0)) == "ok"


def test_liquidation_money_is_conserved():
    ex, _, _, _ = _setup()

    ex.set_reference_price(TICKER, 47000)

    assert ex.money_supply() == dollars("10002.0000")


def test_liquidation_with_no_bids_retries_each_second_until_liquidity_arrives():
    ex, maker, victim, _ = _setup()
    ex.cancel_all(maker)
    ex.place_order(maker, PlaceOrder(TICKER, Side.ASK, 70000, 100, "far-ask"))
    ex.advance(1_000)

    ex.set_reference_price(TICKER, 40000)  # no bids: mark = median(None...) = reference
    assert ex.liquidator.state((victim, 0)) == "liquidating"
    assert positions(ex, victim)[0].position == 100
    ex.place_order(maker, PlaceOrder(TICKER, Side.BID, 40000, 100, "late-bid"))
    ex.advance(1_000)

    assert positions(ex, victim) == []
    assert ex.subaccount(victim, 0).cash < 0
    assert ex.waterfall_deficit == -ex.subaccount(victim, 0).cash
