"""MECHANICS.md 11: the validation vectors from real captures, to the last digit."""

from __future__ import annotations

import pytest

from matching import Side
from simulator.core import errors
from simulator.core.money import WireFormatError, parse_price
from simulator.model.ledger import Position
from simulator.model.margin_curve import MarginCurve
from simulator.model.marks import liquidation_mark
from simulator.model.orders import PlaceOrder
from simulator.risk.views import balance, positions, risk
from tests.simulator.factories import dollars, make_exchange, make_spec


@pytest.fixture
def demo_account():
    """One long KXBTCPERP1-like contract at 6.3587 with the engine mark at 6.3329."""
    spec = make_spec(reference="6.3329", leverage={"1000": 5.899})
    ex = make_exchange(spec, fees_enabled=False)
    long = ex.create_user(balance=dollars("50.0500"))
    short = ex.create_user(balance=dollars("1000"))
    ex.place_order(short.user_id, PlaceOrder("KXBTCPERP", Side.ASK, 63587, 100, "s"))
    ex.place_order(long.user_id, PlaceOrder("KXBTCPERP", Side.BID, 63587, 100, "l"))
    ex.advance(1_000)
    return ex, long.user_id


def test_unrealized_pnl_vector():
    assert Position(qty=100, cost=100 * 63587).unrealized(63329) == dollars("-0.0258")


def test_margin_vector_mm_and_im_round_up():
    curve = MarginCurve.from_leverage_estimates({"1000": 5.899}, 1_300_000_000_000)

    mm = curve.maintenance_margin(dollars("6.3329"))

    assert mm == dollars("0.8259")
    assert curve.initial_margin(mm) == dollars("1.0737")


def test_balance_vector_equity_margins_and_available(demo_account):
    ex, user_id = demo_account

    view = balance(ex, user_id, compute_available=True)

    assert view.settled_funds == dollars("50.0500")
    (sub,) = view.subaccount_balances
    assert sub.position_value == dollars("6.3329")
    assert sub.account_equity == dollars("50.0242")
    assert sub.maintenance_margin == dollars("0.8259")
    assert sub.initial_margin == dollars("1.0737")
    assert sub.resting_orders_margin == 0
    assert sub.available_balance == dollars("48.9505")


def test_balance_without_flag_reports_zero_available(demo_account):
    ex, user_id = demo_account

    (sub,) = balance(ex, user_id).subaccount_balances

    assert sub.available_balance == 0
    assert sub.resting_orders_margin == 0


def test_position_vector_roe_and_entry(demo_account):
    ex, user_id = demo_account

    (pos,) = positions(ex, user_id)

    assert pos.position == 100
    assert pos.entry_price == dollars("6.3587")
    assert pos.unrealized_pnl == dollars("-0.0258")
    assert pos.margin_used == dollars("0.8259")
    assert pos.roe == pytest.approx(-3.1239, abs=5e-5)


def test_risk_vector_leverage_and_no_liquidation_price(demo_account):
    ex, user_id = demo_account

    view = risk(ex, user_id)

    (row,) = view.positions
    assert row.mark_price == parse_price("6.3329")
    assert row.position_notional == dollars("6.3329")
    assert row.position_leverage == pytest.approx(7.6679, abs=5e-5)
    assert row.estimated_liquidation_price is None
    assert view.account_leverage == pytest.approx(7.6679, abs=5e-5)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("6.3324", "6.3352"), ("6.3363", "6.3363")],
)
def test_liquidation_mark_vectors(reference, expected):
    mark = liquidation_mark(parse_price("6.3352"), parse_price("6.3556"), parse_price(reference))

    assert mark == parse_price(expected)


def test_liquidation_mark_vector_through_the_exchange():
    ex = make_exchange(make_spec(reference="6.3324"))
    maker = ex.create_user(balance=dollars("1000"))
    ex.place_order(maker.user_id, PlaceOrder("KXBTCPERP", Side.BID, 63352, 100, "b"))
    ex.place_order(maker.user_id, PlaceOrder("KXBTCPERP", Side.ASK, 63556, 100, "a"))

    ex.advance(1_000)

    assert ex.mark("KXBTCPERP") == 63352


def test_notional_limit_vector_rejects_over_limit_order():
    ex = make_exchange(make_spec(reference="5.3829"))
    user = ex.create_user(balance=dollars("100000"))
    ex.user(user.user_id).notional_limit_overrides["KXBTCPERP"] = dollars("50000")
    order = PlaceOrder("KXBTCPERP", Side.BID, parse_price("5.3829"), 10_185 * 100, "big")

    with pytest.raises(errors.NotionalRiskLimitError) as info:
        ex.place_order(user.user_id, order)

    assert info.value.code == "NOTIONAL_RISK_LIMIT_EXCEEDED"
    assert ex.live_orders(user.user_id) == []


def test_off_tick_price_vector_is_rejected_at_parse():
    with pytest.raises(WireFormatError):
        parse_price("5.38295")


def test_band_vector_bid_at_half_the_best_bid_is_invalid_price():
    ex = make_exchange(make_spec(reference="6.0000"))
    maker = ex.create_user(balance=dollars("1000"))
    taker = ex.create_user(balance=dollars("1000"))
    ex.place_order(maker.user_id, PlaceOrder("KXBTCPERP", Side.BID, 60000, 100, "b"))

    with pytest.raises(errors.InvalidPriceError) as info:
        ex.place_order(taker.user_id, PlaceOrder("KXBTCPERP", Side.BID, 30000, 100, "low"))

    assert info.value.code == "invalid_price"
