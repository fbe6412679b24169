"""The liquidation watcher: work proportional to risk, queue and recovery, pre-empted triggers."""

from __future__ import annotations

from matching import Side
from simulator.core.events import LiquidationStep
from simulator.model.orders import PlaceOrder
from tests.simulator.factories import dollars, make_exchange, make_spec

BTC = "KXBTCPERP"


def _market_with_holders(count: int, balance: str):
    ex = make_exchange(
        make_spec(reference="6.0000", leverage={"1000": 5.0}),
        fees_enabled=False,
        default_notional_limit=dollars("10000000"),
    )
    maker = ex.create_user(balance=dollars("10000000")).user_id
    ex.place_order(maker, PlaceOrder(BTC, Side.ASK, 60000, 100 * count, "supply"))
    holders = []
    for i in range(count):
        user = ex.create_user(balance=dollars(balance)).user_id
        ex.place_order(user, PlaceOrder(BTC, Side.BID, 60000, 100, f"h{i}"))
        holders.append(user)
    ex.place_order(maker, PlaceOrder(BTC, Side.BID, 10000, 100 * count, "floor"))
    ex.place_order(maker, PlaceOrder(BTC, Side.ASK, 90000, 100 * count, "cap"))
    ex.advance(1_000)
    return ex, maker, holders


def test_small_mark_moves_do_not_re_evaluate_well_margined_accounts():
    ex, _, _ = _market_with_holders(200, "100")
    before = ex.liquidator.evaluations

    for step in range(100):
        ex.set_reference_price(BTC, 60000 + (step % 2) * 10)

    assert ex.liquidator.evaluations - before < 200  # not 200 accounts x 100 moves


def test_a_large_move_re_evaluates_the_accounts_whose_budget_it_used():
    ex, _, holders = _market_with_holders(50, "100")
    before = ex.liquidator.evaluations

    ex.set_reference_price(BTC, 20000)

    assert ex.liquidator.evaluations - before >= len(holders)


def test_queue_then_recovery_publishes_both_steps():
    ex, _, holders = _market_with_holders(1, "2")
    user = holders[0]
    after = ex.journal.last_seq

    ex.set_reference_price(BTC, 48000)
    ex.set_reference_price(BTC, 60000)

    stages = [e.stage for _, e in ex.events_since(after) if isinstance(e, LiquidationStep)]
    assert stages == ["queued", "recovered"]
    assert ex.liquidator.state((user, 0)) == "ok"


def test_liquidation_cancels_exit_triggers_of_the_subaccount():
    ex, _, holders = _market_with_holders(1, "2")
    user = holders[0]
    (trigger,) = ex.exit_triggers.set_cross(user, 0, BTC, take_profit_price=80000)

    ex.set_reference_price(BTC, 45000)

    final = ex.exit_triggers.book.get(trigger.id)
    assert final is not None
    assert (final.status, final.status_reason) == ("canceled", "position_closed")
    assert ex.subaccount(user, 0).position(BTC).qty == 0


def test_liquidation_closes_the_largest_margin_contributor_first():
    ex = make_exchange(
        make_spec("KXBTCPERP", reference="6.0000", leverage={"1000": 5.0}),
        make_spec("KXETHPERP", reference="3.0000", leverage={"1000": 5.0}),
        fees_enabled=False,
    )
    maker = ex.create_user(balance=dollars("100000")).user_id
    user = ex.create_user(balance=dollars("4")).user_id
    ex.place_order(maker, PlaceOrder(BTC, Side.ASK, 60000, 100, "a"))
    ex.place_order(user, PlaceOrder(BTC, Side.BID, 60000, 100, "b"))
    ex.place_order(maker, PlaceOrder("KXETHPERP", Side.ASK, 30000, 100, "c"))
    ex.place_order(user, PlaceOrder("KXETHPERP", Side.BID, 30000, 100, "d"))
    ex.place_order(maker, PlaceOrder(BTC, Side.BID, 40000, 1_000, "e"))
    ex.place_order(maker, PlaceOrder("KXETHPERP", Side.BID, 25000, 1_000, "f"))
    ex.advance(1_000)
    after = ex.journal.last_seq

    ex.set_reference_price(BTC, 10000)  # BTC notional 1.00 now margins less than ETH's 3.00

    orders = [
        e.ticker
        for _, e in ex.events_since(after)
        if isinstance(e, LiquidationStep) and e.stage == "order"
    ]
    assert orders == ["KXETHPERP", BTC]
    assert ex.subaccount(user, 0).position(BTC).qty == 0


def test_partial_liquidation_closes_only_what_restores_the_ratio():
    ex = make_exchange(
        make_spec(reference="6.0000", leverage={"1000": 5.0}),
        fees_enabled=False,
        partial_liquidation=True,
        default_notional_limit=dollars("1000000"),
    )
    maker = ex.create_user(balance=dollars("100000")).user_id
    user = ex.create_user(balance=dollars("20")).user_id
    ex.place_order(maker, PlaceOrder(BTC, Side.ASK, 60000, 1_000, "a"))
    ex.place_order(user, PlaceOrder(BTC, Side.BID, 60000, 1_000, "b"))
    ex.place_order(maker, PlaceOrder(BTC, Side.BID, 47000, 10_000, "c"))
    ex.advance(1_000)

    ex.set_reference_price(BTC, 47000)  # equity 7.00 vs MM 7.23: ratio 1.03

    left = ex.subaccount(user, 0).position(BTC).qty
    risk = ex.subaccount_risk(user, 0)
    assert left == 800  # 2 contracts bring MM / equity to 5.78 / 7.00 < 0.91
    assert risk.maintenance_margin * 100 < 91 * risk.equity
    assert ex.liquidator.state((user, 0)) == "ok"


def test_no_liquidation_while_trading_is_paused_then_on_resume():
    ex, _, holders = _market_with_holders(1, "2")
    user = holders[0]
    ex.set_trading_active(False)

    ex.set_reference_price(BTC, 45000)
    assert ex.subaccount(user, 0).position(BTC).qty == 100
    ex.set_trading_active(True)
    ex.advance(1_000)

    assert ex.subaccount(user, 0).position(BTC).qty == 0
