"""The FCM desk: subtraders, IM caps, admin and member notional limits."""

from __future__ import annotations

import copy

import pytest

from matching import Reason, Side, TimeInForce
from simulator.core import errors
from simulator.model.orders import PlaceOrder
from simulator.risk.fcm import (
    ImCapView,
    NotionalLimitRow,
    SubtraderExistsError,
    SubtraderNotFoundError,
    risk_control_scope,
)
from simulator.server.state_hash import state_hash
from tests.simulator.factories import T0, dollars, make_exchange

BTC = "KXBTCPERP"
ETH = "KXETHPERP"


@pytest.fixture
def ex():
    return make_exchange()


@pytest.fixture
def fcm(ex):
    return ex.create_user(user_id="fcm", balance=dollars("1000")).user_id


@pytest.fixture
def desk(ex, fcm):
    return ex.fcm.create_subtrader(fcm, "desk1", True).subtrader_id


def _snapshot(ex):
    return state_hash(ex), copy.deepcopy(ex.fcm.subtraders)


def test_create_subtrader_opens_an_empty_account(ex, fcm):
    found = ex.fcm.create_subtrader(fcm, "Desk1", False)

    assert found.subtrader_id == "fcm_Desk1"
    assert (found.fcm_user_id, found.require_category_cap, found.created_ms) == (fcm, False, T0)
    user = ex.user("fcm_Desk1")
    assert list(user.subaccounts) == [0]
    assert user.subaccounts[0].cash == 0
    assert user.api_keys == []
    assert ex.fcm.subtraders_of(fcm) == [found]


@pytest.mark.parametrize(
    ("suffix", "flag", "error"),
    [
        ("desk1", True, SubtraderExistsError),
        ("", True, errors.InvalidParametersError),
        ("a" * 17, True, errors.InvalidParametersError),
        ("no_underscores", True, errors.InvalidParametersError),
        ("ok", 1, errors.InvalidParametersError),
    ],
)
def test_create_subtrader_refusals_change_nothing(ex, fcm, desk, suffix, flag, error):
    before = _snapshot(ex)

    with pytest.raises(error):
        ex.fcm.create_subtrader(fcm, suffix, flag)

    assert _snapshot(ex) == before


def test_create_subtrader_needs_a_known_fcm(ex):
    with pytest.raises(errors.UserNotFoundError):
        ex.fcm.create_subtrader("ghost", "desk1", True)


def test_subtraders_belong_to_their_fcm(ex, fcm, desk):
    other = ex.create_user(user_id="other").user_id

    assert ex.fcm.subtrader(fcm, desk).subtrader_id == desk
    with pytest.raises(SubtraderNotFoundError):
        ex.fcm.subtrader(other, desk)
    with pytest.raises(SubtraderNotFoundError):
        ex.fcm.subtrader(fcm, "fcm_nobody")
    with pytest.raises(SubtraderNotFoundError):
        ex.fcm.set_im_cap(other, desk, dollars("1"))


def test_scope_rules():
    assert risk_control_scope(None, None) == (None, None)
    assert risk_control_scope(BTC, None) == (BTC, None)
    with pytest.raises(errors.InvalidParametersError):
        risk_control_scope(BTC, "Crypto")
    with pytest.raises(errors.InvalidParametersError):
        risk_control_scope(None, "Bonds")
    with pytest.raises(errors.InvalidParametersError):
        risk_control_scope("", None)


def test_im_caps_with_current_im(ex, fcm, desk):
    ex.deposit(desk, dollars("100"))
    maker = ex.create_user(balance=dollars("1000")).user_id
    ex.fcm.set_im_cap(fcm, desk, dollars("100"))
    ex.fcm.set_im_cap(fcm, desk, dollars("25.1234"), market_ticker=ETH)
    ex.fcm.set_im_cap(fcm, desk, dollars("50"), asset_class="Crypto")
    ex.fcm.set_im_cap(fcm, desk, dollars("10"), asset_class="Metals")
    # 1 BTC at the static reference 6.2590: MM ceil(6.2590 x 0.1270766) = 0.7954,
    # IM ceil(1.3 x 0.7954) = 1.0341
    ex.place_order(maker, PlaceOrder(BTC, Side.ASK, 62590, 100, "a"))
    ex.place_order(desk, PlaceOrder(BTC, Side.BID, 62590, 100, "b", TimeInForce.FILL_OR_KILL))

    view = ex.fcm.risk_controls(fcm, desk)

    im = dollars("1.0341")
    assert view.risk_controls == [
        ImCapView(desk, None, None, dollars("100"), im),
        ImCapView(desk, None, "Crypto", dollars("50"), im),
        ImCapView(desk, None, "Metals", dollars("10"), 0),
        ImCapView(desk, ETH, None, dollars("25.1234"), 0),
    ]
    assert view.notional_limits == []
    crypto = ex.fcm.risk_controls(fcm, desk, asset_class="Crypto").risk_controls
    assert [c.asset_class for c in crypto] == ["Crypto"]
    assert [
        c.market_ticker for c in ex.fcm.risk_controls(fcm, desk, market_ticker=ETH).risk_controls
    ] == [ETH]


def test_current_im_counts_resting_orders(ex, fcm, desk):
    ex.deposit(desk, dollars("100"))
    ex.fcm.set_im_cap(fcm, desk, dollars("5"), market_ticker=BTC)
    ex.place_order(desk, PlaceOrder(BTC, Side.BID, 60000, 200, "a"))  # 2 @ 6.0000 resting

    (cap,) = ex.fcm.risk_controls(fcm, desk).risk_controls

    # worst case long 12.0000: MM ceil(12 x 0.1270766) = 1.5250, IM ceil(1.3 x 1.5250) = 1.9825
    assert cap.current_im == dollars("1.9825")


def test_orders_beyond_an_im_cap_are_refused(ex, fcm, desk):
    ex.deposit(desk, dollars("100"))
    # 2 @ 6.0000 resting needs IM 1.9825 (see above); 3 @ 6.0000 needs more than 2.5.
    ex.fcm.set_im_cap(fcm, desk, dollars("2.5"), asset_class="Crypto")
    ex.fcm.set_im_cap(fcm, desk, dollars("1"), asset_class="Metals")  # another scope: no effect
    ex.place_order(desk, PlaceOrder(BTC, Side.BID, 60000, 200, "a"))
    before = state_hash(ex)

    with pytest.raises(errors.InsufficientBalanceError) as refused:
        ex.place_order(desk, PlaceOrder(BTC, Side.BID, 60000, 100, "b"))

    assert "asset_class Crypto" in str(refused.value)
    assert state_hash(ex) == before
    ex.place_order(desk, PlaceOrder(BTC, Side.ASK, 70000, 100, "c"))  # adds no margin: allowed
    ex.fcm.delete_im_cap(fcm, desk, asset_class="Crypto")
    ex.place_order(desk, PlaceOrder(BTC, Side.BID, 60000, 100, "b"))


def test_set_im_cap_replaces_and_delete_removes(ex, fcm, desk):
    ex.fcm.set_im_cap(fcm, desk, dollars("5"), asset_class="Crypto")
    ex.fcm.set_im_cap(fcm, desk, dollars("7"), asset_class="Crypto")

    assert [c.im_cap for c in ex.fcm.risk_controls(fcm, desk).risk_controls] == [dollars("7")]
    ex.fcm.delete_im_cap(fcm, desk, asset_class="Crypto")
    assert ex.fcm.risk_controls(fcm, desk).risk_controls == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"im_cap": -1}, errors.InvalidParametersError),
        ({"im_cap": 1}, errors.InvalidParametersError),  # finer than $0.0001
        ({"im_cap": 100, "market_ticker": "NOPE"}, errors.MarketNotFoundError),
        (
            {"im_cap": 100, "market_ticker": BTC, "asset_class": "Crypto"},
            errors.InvalidParametersError,
        ),
        ({"im_cap": 100, "asset_class": "Bonds"}, errors.InvalidParametersError),
    ],
)
def test_set_im_cap_refusals_change_nothing(ex, fcm, desk, kwargs, error):
    ex.fcm.set_im_cap(fcm, desk, dollars("3"))
    before = _snapshot(ex)

    with pytest.raises(error):
        ex.fcm.set_im_cap(fcm, desk, **kwargs)

    assert _snapshot(ex) == before


def test_delete_missing_cap_is_not_found(ex, fcm, desk):
    with pytest.raises(errors.RejectError) as caught:
        ex.fcm.delete_im_cap(fcm, desk, market_ticker=BTC)
    assert caught.value.http_status == 404


def test_admin_notional_limits_are_enforced_and_listed(ex, fcm, desk):
    ex.deposit(desk, dollars("100"))
    ex.fcm.set_admin_notional_limit(desk, dollars("10"))
    ex.fcm.set_admin_notional_limit(desk, dollars("8"), market_ticker=BTC)
    ex.place_order(desk, PlaceOrder(BTC, Side.BID, 60000, 100, "a"))  # $6 in BTC

    with pytest.raises(errors.NotionalRiskLimitError):
        ex.place_order(desk, PlaceOrder(BTC, Side.BID, 55000, 100, "b"))  # BTC $11.50 > $8
    with pytest.raises(errors.NotionalRiskLimitError):
        ex.place_order(desk, PlaceOrder(ETH, Side.BID, 34000, 200, "c"))  # total $12.80 > $10
    assert ex.fcm.risk_controls(fcm, desk).notional_limits == [
        NotionalLimitRow(desk, None, dollars("10"), dollars("6")),
        NotionalLimitRow(desk, BTC, dollars("8"), dollars("6")),
    ]

    ex.fcm.set_admin_notional_limit(desk, None, market_ticker=BTC)
    ex.fcm.set_admin_notional_limit(desk, None)
    assert ex.fcm.risk_controls(fcm, desk).notional_limits == []
    with pytest.raises(SubtraderNotFoundError):
        ex.fcm.set_admin_notional_limit(fcm, dollars("1"))


def test_member_limit_cancels_newest_usage_first(ex, fcm):
    ids = [
        ex.place_order(fcm, PlaceOrder(BTC, Side.BID, price, 100, cid)).order.order_id
        for price, cid in ((60000, "a"), (55000, "b"), (50000, "c"))
    ]
    ask = ex.place_order(fcm, PlaceOrder(BTC, Side.ASK, 70000, 100, "d")).order.order_id

    cancelled = ex.fcm.set_member_notional_limit(fcm, dollars("11"))  # usage $16.50 (bids)

    # the newest ask does not lower max(bids, asks): skipped; c then b go
    assert cancelled == [ids[2], ids[1]]
    assert ex.orders[ids[1]].last_update_reason is Reason.MARGIN_CANCEL
    assert ex.orders[ids[0]].remaining == 100 and ex.orders[ask].remaining == 100
    assert ex.user(fcm).member_notional_limit == dollars("11")
    assert sum(ex.fcm.usage_by_market(ex.user(fcm)).values()) == dollars("7")


def test_member_limit_within_usage_cancels_nothing(ex, fcm):
    ex.place_order(fcm, PlaceOrder(BTC, Side.BID, 60000, 100, "a"))

    assert ex.fcm.set_member_notional_limit(fcm, dollars("6")) == []
    with pytest.raises(errors.NotionalRiskLimitError):
        ex.place_order(fcm, PlaceOrder(BTC, Side.BID, 60000, 100, "b"))


def test_clearing_the_member_limit_keeps_orders(ex, fcm):
    order = ex.place_order(fcm, PlaceOrder(BTC, Side.BID, 60000, 100, "a")).order.order_id
    ex.fcm.set_member_notional_limit(fcm, dollars("100"))

    ex.fcm.clear_member_notional_limit(fcm)

    assert ex.user(fcm).member_notional_limit is None
    assert ex.orders[order].remaining == 100


@pytest.mark.parametrize("limit", [-100, 1, "5"])
def test_member_limit_refusals_change_nothing(ex, fcm, limit):
    before = _snapshot(ex)

    with pytest.raises(errors.InvalidParametersError):
        ex.fcm.set_member_notional_limit(fcm, limit)

    assert _snapshot(ex) == before
    assert ex.user(fcm).member_notional_limit is None


def test_fcm_commands_are_recorded(ex, fcm):
    ex.fcm.create_subtrader(fcm, "desk2", False)
    ex.fcm.set_member_notional_limit(fcm, dollars("50"))

    names = [entry[1] for entry in ex.command_log.entries]
    assert names[-2:] == ["fcm.create_subtrader", "fcm.set_member_notional_limit"]
