"""Order entry through the exchange: validation order, fills, fees, positions, lifecycle."""

from __future__ import annotations

import dataclasses

import pytest

from matching import Reason, SelfTradePrevention, Side, TimeInForce
from simulator.core import errors
from simulator.core.events import (
    BookDelta,
    FillExecuted,
    OrderUpdated,
    TickerChanged,
    TradeExecuted,
)
from simulator.model.margin_curve import MarginCurve
from simulator.model.orders import AmendOrder, PlaceOrder
from simulator.server.state_hash import state_hash
from tests.simulator.factories import T0, dollars, make_exchange, make_spec

BTC = "KXBTCPERP"
IOC = TimeInForce.IMMEDIATE_OR_CANCEL
FOK = TimeInForce.FILL_OR_KILL


@pytest.fixture
def ex():
    return make_exchange()


@pytest.fixture
def alice(ex):
    return ex.create_user(balance=dollars("1000")).user_id


@pytest.fixture
def bob(ex):
    return ex.create_user(balance=dollars("1000")).user_id


def bid(price, count, cid, **kw):
    return PlaceOrder(BTC, Side.BID, price, count, cid, **kw)


def ask(price, count, cid, **kw):
    return PlaceOrder(BTC, Side.ASK, price, count, cid, **kw)


# ------------------------------------------------------------------ validation


def test_unknown_market_is_market_not_found(ex, alice):
    with pytest.raises(errors.MarketNotFoundError):
        ex.place_order(alice, PlaceOrder("NOPE", Side.BID, 100, 100, "c"))


def test_inactive_closed_and_paused_markets_refuse_orders(ex, alice):
    ex.set_market_status(BTC, "inactive")
    with pytest.raises(errors.MarketInactiveError):
        ex.place_order(alice, bid(62000, 100, "c"))
    ex.set_market_status(BTC, "closed")
    with pytest.raises(errors.MarketClosedError):
        ex.place_order(alice, bid(62000, 100, "c"))
    ex.set_market_status(BTC, "active")
    ex.set_trading_active(False)
    with pytest.raises(errors.TradingPausedError):
        ex.place_order(alice, bid(62000, 100, "c"))


def test_market_version_mismatch_is_409(ex, alice):
    with pytest.raises(errors.MarketVersionMismatchError) as info:
        ex.place_order(alice, bid(62000, 100, "c", market_version=2))

    assert info.value.http_status == 409
    assert ex.place_order(alice, bid(62000, 100, "c", market_version=1)).order.remaining_count


@pytest.mark.parametrize("count", [0, -100, 150])
def test_count_must_be_whole_positive_contracts(ex, alice, count):
    with pytest.raises(errors.InvalidOrderError):
        ex.place_order(alice, bid(62000, count, "c"))


def test_fractional_market_accepts_hundredths():
    ex = make_exchange(make_spec(fractional_trading_enabled=True))
    user = ex.create_user(balance=dollars("100")).user_id

    assert ex.place_order(user, bid(62000, 1, "c")).order.remaining_count == 1


def test_reduce_only_needs_ioc_or_fok(ex, alice):
    with pytest.raises(errors.InvalidOrderError) as info:
        ex.place_order(alice, bid(62000, 100, "c", reduce_only=True))

    assert "IoC or FoK" in str(info.value)


def test_reduce_only_without_position_cancels_with_reduce_only_cancel(ex, alice, bob):
    ex.place_order(bob, ask(62600, 100, "a"))

    result = ex.place_order(alice, bid(62600, 100, "c", time_in_force=IOC, reduce_only=True))

    assert result.fill_count == 0
    assert result.order.last_update_reason is Reason.REDUCE_ONLY_CANCEL


def test_reduce_only_is_capped_to_the_position(ex, alice, bob):
    ex.place_order(bob, bid(62500, 500, "b"))
    ex.place_order(alice, ask(62500, 200, "open"))  # alice short 2

    ex.place_order(bob, ask(62600, 500, "a2"))
    result = ex.place_order(alice, bid(62600, 500, "close", time_in_force=IOC, reduce_only=True))

    assert result.fill_count == 200
    assert ex.subaccount(alice, 0).position(BTC).qty == 0


def test_expiration_must_be_in_the_future(ex, alice):
    with pytest.raises(errors.InvalidOrderError):
        ex.place_order(alice, bid(62000, 100, "c", expiration_ms=T0))


def test_expired_order_is_cancelled_with_expiry_cancel(ex, alice):
    order = ex.place_order(alice, bid(62000, 100, "c", expiration_ms=T0 + 5_000)).order

    ex.advance(4_999)
    assert ex.orders[order.order_id].remaining == 100
    ex.advance(1)

    record = ex.orders[order.order_id]
    assert (record.remaining, record.last_update_reason) == (0, Reason.EXPIRY_CANCEL)
    assert ex.subaccount(alice, 0).position(BTC).bid_qty == 0


def test_client_order_id_is_unique_among_live_orders(ex, alice):
    first = ex.place_order(alice, bid(62000, 100, "same")).order

    with pytest.raises(errors.OrderAlreadyExistsError):
        ex.place_order(alice, bid(61000, 100, "same"))
    ex.cancel_order(alice, first.order_id)

    assert ex.place_order(alice, bid(61000, 100, "same")).order.remaining_count == 100


def test_insufficient_margin_is_rejected_but_reducing_orders_pass(ex, alice, bob):
    poor = ex.create_user(balance=dollars("1.5000")).user_id
    ex.place_order(bob, ask(62590, 1_000, "a"))
    ex.place_order(poor, bid(62590, 100, "one"))  # IM of 1 BTC contract is about $1.34

    with pytest.raises(errors.InsufficientBalanceError):
        ex.place_order(poor, bid(62590, 100, "two"))
    closing = ex.place_order(poor, ask(62000, 100, "close"))

    assert closing.order.remaining_count == 100


def test_notional_limit_counts_resting_orders(ex):
    rich = ex.create_user(balance=dollars("100000")).user_id
    ex.place_order(rich, bid(60000, 70_000, "a"))  # $4,200 of bids

    with pytest.raises(errors.NotionalRiskLimitError):
        ex.place_order(rich, bid(60000, 20_000, "b"))  # $5,400 > $5,000
    ex.place_order(rich, ask(70000, 70_000, "c"))  # the short side is counted apart


def test_crossing_order_beyond_the_slippage_cap_is_invalid_price(ex, alice, bob):
    ex.place_order(bob, ask(62600, 100, "a"))

    with pytest.raises(errors.InvalidPriceError):
        ex.place_order(alice, bid(62600 * 13 // 10, 100, "far"))


# ------------------------------------------------------------------ matching


def test_fill_charges_taker_and_maker_fees_rounded_up(ex, alice, bob):
    ex.place_order(bob, ask(63587, 100, "m"))

    result = ex.place_order(alice, bid(63587, 100, "t"))

    assert result.fill_count == 100
    assert result.fees == dollars("0.0077")  # ceil(6.3587 x 0.0012 = 0.00763)
    maker_fill = next(f for f in ex.fills if f.user_id == bob)
    assert maker_fill.fee == dollars("0.0032")  # ceil(6.3587 x 0.0005 = 0.00318)
    assert ex.house_cash == dollars("0.0109")


def test_fill_events_in_order(ex, alice, bob):
    ex.place_order(bob, ask(62600, 100, "m"))
    after = ex.journal.last_seq

    ex.place_order(alice, bid(62600, 100, "t"))

    kinds = [type(e).__name__ for _, e in ex.events_since(after)]
    assert kinds == [
        "OrderUpdated",  # taker created
        "FillExecuted",
        "FillExecuted",
        "TradeExecuted",
        "OrderUpdated",  # maker filled
        "BookDelta",  # maker's level gone
        "OrderUpdated",  # taker done
    ]
    trade = next(e for _, e in ex.events_since(after) if isinstance(e, TradeExecuted))
    assert (trade.trade.taker_side, trade.trade.price, trade.trade.count) == (Side.BID, 62600, 100)


def test_ticker_is_coalesced_and_quiet_when_nothing_changes(ex, alice, bob):
    ex.place_order(bob, ask(62600, 100, "m"))
    ex.place_order(alice, bid(62600, 100, "t"))
    after = ex.journal.last_seq

    ex.advance(60_000)

    tickers = [
        e for _, e in ex.events_since(after) if isinstance(e, TickerChanged) and e.ticker == BTC
    ]
    assert tickers[0].ts_ms == T0 + 1_000
    assert (tickers[0].price, tickers[0].volume, tickers[0].open_interest) == (62600, 100, 100)
    assert len({t.ts_ms for t in tickers}) == len(tickers)  # at most one per second
    assert tickers[-1].ts_ms <= T0 + 20_000  # quiet once the settlement mark has settled


def test_positions_average_entry_realize_and_flip(ex, alice, bob):
    ex.place_order(bob, ask(60000, 100, "a1"))
    ex.place_order(alice, bid(60000, 100, "b1"))
    ex.place_order(bob, ask(63000, 200, "a2"))
    ex.place_order(alice, bid(63000, 200, "b2"))
    pos = ex.subaccount(alice, 0).position(BTC)
    assert (pos.qty, pos.entry_price_micros()) == (300, dollars("6.2"))

    ex.place_order(bob, bid(65000, 500, "b3"))
    ex.place_order(alice, ask(65000, 500, "a3"))

    fill = [f for f in ex.fills if f.user_id == alice][-1]
    assert fill.realized_pnl == dollars("0.9000")  # 3 x (6.50 - 6.20)
    assert fill.entry_price == dollars("6.2")
    assert fill.post_position == -200
    assert (pos.qty, pos.entry_price_micros()) == (-200, dollars("6.5"))
    assert pos.fees == fill.fee  # the flipped position's fees start with this fill


def test_self_trade_prevention_cancels_the_taker(ex, alice):
    ex.place_order(alice, ask(62600, 100, "a"))

    result = ex.place_order(alice, bid(62600, 100, "b"))

    assert result.fill_count == 0
    assert result.order.last_update_reason is Reason.SELF_TRADE_CANCEL


def test_maker_stp_cancels_the_resting_order(ex, alice):
    resting = ex.place_order(alice, ask(62600, 100, "a")).order

    ex.place_order(alice, bid(62600, 100, "b", self_trade_prevention=SelfTradePrevention.MAKER))

    assert ex.orders[resting.order_id].last_update_reason is Reason.SELF_TRADE_CANCEL


def test_fok_that_cannot_fill_changes_no_position(ex, alice, bob):
    ex.place_order(bob, ask(62600, 100, "a"))

    result = ex.place_order(alice, bid(62600, 200, "f", time_in_force=FOK))

    assert result.fill_count == 0
    assert ex.subaccount(alice, 0).position(BTC).qty == 0


def test_post_only_that_crosses_is_cancelled(ex, alice, bob):
    ex.place_order(bob, ask(62600, 100, "a"))

    result = ex.place_order(alice, bid(62600, 100, "p", post_only=True))

    assert result.order.last_update_reason is Reason.POST_ONLY_CROSS_CANCEL


# ---------------------------------------------------------- amend, decrease, cancel


def test_amend_moves_the_order_and_its_exposure(ex, alice):
    order = ex.place_order(alice, bid(60000, 300, "c")).order

    result = ex.amend_order(alice, order.order_id, AmendOrder(BTC, Side.BID, 61000, 500))

    assert (result.order.price, result.order.remaining_count) == (61000, 500)
    assert result.order.last_update_reason is Reason.AMEND
    pos = ex.subaccount(alice, 0).position(BTC)
    assert (pos.bid_qty, pos.bid_value) == (500, 500 * 61000)
    assert ex.markets[BTC].book.order(order.order_id).price == 61000


def test_amend_that_crosses_fills(ex, alice, bob):
    ex.place_order(bob, ask(62600, 100, "a"))
    order = ex.place_order(alice, bid(60000, 300, "c")).order

    result = ex.amend_order(alice, order.order_id, AmendOrder(BTC, Side.BID, 62600, 300))

    assert result.fill_count == 100
    assert ex.subaccount(alice, 0).position(BTC).bid_qty == 200


def test_amend_checks_ticker_side_and_count(ex, alice):
    order = ex.place_order(alice, bid(60000, 300, "c")).order

    with pytest.raises(errors.InvalidOrderError):
        ex.amend_order(alice, order.order_id, AmendOrder(BTC, Side.ASK, 61000, 300))
    with pytest.raises(errors.InvalidOrderError):
        ex.amend_order(alice, order.order_id, AmendOrder(BTC, Side.BID, 61000, 0))


def test_amend_renames_the_client_order_id(ex, alice):
    order = ex.place_order(alice, bid(60000, 300, "old")).order

    ex.amend_order(
        alice,
        order.order_id,
        AmendOrder(BTC, Side.BID, 60000, 300, updated_client_order_id="new"),
    )

    assert ex.orders[order.order_id].client_order_id == "new"
    assert ex.place_order(alice, bid(59000, 100, "old")).order.remaining_count == 100


def test_decrease_by_and_to(ex, alice):
    order = ex.place_order(alice, bid(60000, 1_000, "c")).order

    ex.decrease_order(alice, order.order_id, reduce_by=300)
    assert ex.orders[order.order_id].remaining == 700
    ex.decrease_order(alice, order.order_id, reduce_to=200)
    assert ex.orders[order.order_id].remaining == 200
    assert ex.subaccount(alice, 0).position(BTC).bid_qty == 200


@pytest.mark.parametrize(
    "kwargs", [{}, {"reduce_by": 100, "reduce_to": 100}, {"reduce_to": 5_000}, {"reduce_by": 0}]
)
def test_decrease_rejects_bad_arguments(ex, alice, kwargs):
    order = ex.place_order(alice, bid(60000, 1_000, "c")).order
    before = state_hash(ex)

    with pytest.raises(errors.InvalidOrderError):
        ex.decrease_order(alice, order.order_id, **kwargs)

    assert state_hash(ex) == before


def test_cancel_reports_reduced_by_and_decrease_reason(ex, alice):
    order = ex.place_order(alice, bid(60000, 1_000, "c")).order

    record, reduced = ex.cancel_order(alice, order.order_id)

    assert reduced == 1_000
    assert (record.remaining, record.last_update_reason) == (0, Reason.DECREASE)
    with pytest.raises(errors.OrderNotFoundError):
        ex.cancel_order(alice, order.order_id)


def test_orders_of_other_users_are_not_found(ex, alice, bob):
    order = ex.place_order(alice, bid(60000, 100, "c")).order

    with pytest.raises(errors.OrderNotFoundError):
        ex.cancel_order(bob, order.order_id)


def test_cancel_all_filters_by_market_and_subaccount(ex, alice):
    ex.place_order(alice, bid(60000, 100, "a"))
    ex.place_order(alice, PlaceOrder("KXETHPERP", Side.BID, 33000, 100, "b"))

    cancelled = ex.cancel_all(alice, ticker=BTC)

    assert len(cancelled) == 1
    assert [r.ticker for r in ex.live_orders(alice)] == ["KXETHPERP"]


def test_cancel_all_stops_at_the_configured_maximum():
    ex = make_exchange(max_cancel_all=2)
    user = ex.create_user(balance=dollars("1000")).user_id
    for i in range(3):
        ex.place_order(user, bid(60000 - i, 100, f"c{i}"))

    assert len(ex.cancel_all(user)) == 2
    assert len(ex.live_orders(user)) == 1


def test_pausing_a_market_cancels_only_cancel_on_pause_orders(ex, alice):
    keep = ex.place_order(alice, bid(60000, 100, "keep")).order
    drop = ex.place_order(alice, bid(59000, 100, "drop", cancel_order_on_pause=True)).order

    ex.set_market_status(BTC, "inactive")

    assert ex.orders[keep.order_id].remaining == 100
    assert ex.orders[drop.order_id].remaining == 0


# ------------------------------------------------------------ accounts and state


def test_subaccount_transfer_moves_cash_once(ex, alice):
    number = ex.create_subaccount(alice)

    ex.transfer(alice, 0, number, dollars("100"), "t-1")
    ex.transfer(alice, 0, number, dollars("100"), "t-1")

    assert ex.subaccount(alice, 0).cash == dollars("900")
    assert ex.subaccount(alice, number).cash == dollars("100")


def test_transfer_beyond_withdrawable_is_insufficient_balance(ex, alice):
    number = ex.create_subaccount(alice)
    ex.place_order(alice, bid(60000, 1_000, "c"))

    with pytest.raises(errors.InsufficientBalanceError):
        ex.transfer(alice, 0, number, dollars("1000"), "t-1")


def test_rejected_commands_change_nothing(ex, alice, bob):
    ex.place_order(bob, ask(62600, 300, "a"))
    ex.place_order(alice, bid(62600, 100, "b"))
    before = state_hash(ex)
    rejections = [
        lambda: ex.place_order(alice, bid(62600, 100, "b", market_version=9)),
        lambda: ex.place_order(alice, ask(200000, 100, "high")),
        lambda: ex.place_order(alice, bid(62600, 10**6, "huge")),
        lambda: ex.place_order(alice, bid(62600, 100, "r", reduce_only=True)),
        lambda: ex.amend_order(bob, "missing", AmendOrder(BTC, Side.ASK, 1, 100)),
        lambda: ex.transfer(alice, 0, 5, dollars("1"), "x"),
        lambda: ex.deposit(alice, -1),
    ]

    for index, command in enumerate(rejections):
        with pytest.raises(errors.RejectError):
            command()
        assert state_hash(ex) == before, index


def test_same_seed_and_commands_give_the_same_hash_and_events():
    def run():
        ex = make_exchange(make_spec(reference="6.2590"), seed=7)
        a = ex.create_user(balance=dollars("100")).user_id
        b = ex.create_user(balance=dollars("100")).user_id
        ex.place_order(a, bid(62500, 300, "x"))
        ex.place_order(b, ask(62500, 100, "y"))
        ex.advance(60_000)
        return state_hash(ex), [type(e).__name__ for _, e in ex.events_since(0)]

    assert run() == run()


def test_random_walk_reference_moves_the_mark_deterministically():
    spec = dataclasses.replace(
        make_spec(), reference={"kind": "random_walk", "price": "6.2590", "volatility_bps": 5}
    )
    first, second = make_exchange(spec, seed=3), make_exchange(spec, seed=3)

    first.advance(3_600_000)
    for _ in range(60):
        second.advance(60_000)

    assert first.mark(BTC) == second.mark(BTC) != 62590
    assert state_hash(first) == state_hash(second)


def test_advance_rejects_negative_time(ex):
    with pytest.raises(errors.InvalidParametersError):
        ex.advance(-1)


def test_book_delta_carries_the_own_order(ex, alice):
    after = ex.journal.last_seq

    order = ex.place_order(alice, bid(60000, 100, "c")).order

    delta = next(e for _, e in ex.events_since(after) if isinstance(e, BookDelta))
    assert (delta.order_id, delta.user_id, delta.client_order_id) == (order.order_id, alice, "c")
    assert (delta.price, delta.delta, delta.count) == (60000, 100, 100)


def test_order_snapshots_follow_the_lifecycle(ex, alice, bob):
    after = ex.journal.last_seq
    order = ex.place_order(alice, bid(62600, 300, "c")).order
    ex.place_order(bob, ask(62600, 100, "x"))

    updates = [
        e.order.fill_count
        for _, e in ex.events_since(after)
        if isinstance(e, OrderUpdated) and e.order.order_id == order.order_id
    ]
    fills = [e for _, e in ex.events_since(after) if isinstance(e, FillExecuted)]

    assert updates == [0, 100]  # created (resting), then filled
    assert {f.fill.is_taker for f in fills} == {True, False}


@pytest.mark.parametrize(
    "command",
    [
        PlaceOrder(BTC, "bid", 60000, 100, "c"),  # type: ignore[arg-type]
        PlaceOrder(BTC, Side.BID, 6.0, 100, "c"),  # type: ignore[arg-type]
        PlaceOrder(BTC, Side.BID, 60000, "100", "c"),  # type: ignore[arg-type]
        PlaceOrder(BTC, Side.BID, 60000, 100, "c", time_in_force="gtc"),  # type: ignore[arg-type]
        PlaceOrder(BTC, Side.BID, 60000, 100, "c", self_trade_prevention=None),  # type: ignore[arg-type]
    ],
)
def test_mistyped_commands_are_invalid_orders_and_change_nothing(ex, alice, command):
    before = state_hash(ex)

    with pytest.raises(errors.InvalidOrderError):
        ex.place_order(alice, command)

    assert state_hash(ex) == before


def test_mistyped_decrease_and_amend_are_invalid(ex, alice):
    order = ex.place_order(alice, bid(60000, 300, "c")).order
    before = state_hash(ex)

    with pytest.raises(errors.InvalidOrderError):
        ex.decrease_order(alice, order.order_id, reduce_by=1.0)
    with pytest.raises(errors.InvalidOrderError):
        ex.amend_order(alice, order.order_id, AmendOrder(BTC, Side.BID, 6.1, 300))  # type: ignore[arg-type]

    assert state_hash(ex) == before


def test_non_integer_money_and_prices_are_refused(ex, alice):
    before = state_hash(ex)

    with pytest.raises(errors.InvalidParametersError):
        ex.deposit(alice, 1.5)
    with pytest.raises(errors.InvalidParametersError):
        ex.set_reference_price(BTC, 6.2)
    with pytest.raises(errors.InvalidParametersError):
        ex.create_user(balance=10.0)

    assert state_hash(ex) == before


def test_instance_transfer_moves_cash_between_predictions_and_perps(ex, alice):
    ex.deposit_event_contract(alice, dollars("50"))
    supply = ex.money_supply()

    first = ex.instance_transfer(alice, "event_contract", "margined", dollars("20"), "t-1")
    again = ex.instance_transfer(alice, "event_contract", "margined", dollars("20"), "t-1")
    ex.instance_transfer(alice, "margined", "event_contract", dollars("5"))

    assert first == again
    assert ex.user(alice).event_contract_cash == dollars("35")
    assert ex.subaccount(alice, 0).cash == dollars("1015")
    assert ex.money_supply() == supply


@pytest.mark.parametrize(
    ("source", "destination", "amount", "error"),
    [
        ("event_contract", "margined", dollars("60"), errors.InsufficientBalanceError),
        ("margined", "event_contract", dollars("2000"), errors.InsufficientBalanceError),
        ("margined", "margined", dollars("1"), errors.InvalidParametersError),
        ("bank", "margined", dollars("1"), errors.InvalidParametersError),
        ("event_contract", "margined", 0, errors.InvalidParametersError),
    ],
)
def test_instance_transfer_refusals_change_nothing(ex, alice, source, destination, amount, error):
    ex.deposit_event_contract(alice, dollars("50"))
    before = state_hash(ex)

    with pytest.raises(error):
        ex.instance_transfer(alice, source, destination, amount)

    assert state_hash(ex) == before


def test_member_notional_limit_caps_the_account_total(ex):
    rich = ex.create_user(balance=dollars("100000")).user_id
    ex.user(rich).member_notional_limit = dollars("3000")
    ex.place_order(rich, bid(60000, 30_000, "a"))  # $1,800

    with pytest.raises(errors.NotionalRiskLimitError):
        ex.place_order(rich, PlaceOrder("KXETHPERP", Side.BID, 34000, 40_000, "b"))  # +$1,360
    ex.place_order(rich, PlaceOrder("KXETHPERP", Side.BID, 34000, 30_000, "c"))  # +$1,020


def _queued_exchange(block: bool):
    # demo-like parameters where a queued account can still have available balance:
    # IM = 1.1 x MM, queue at 0.8, fractional counts
    spec = make_spec(
        reference="6.0000", fractional_trading_enabled=True, im_multiplier=1_100_000_000_000
    )
    curve = MarginCurve.from_leverage_estimates({"1000": 5.0}, 1_100_000_000_000)
    spec = dataclasses.replace(spec, long_curve=curve, short_curve=curve)
    ex = make_exchange(
        spec,
        fees_enabled=False,
        queue_threshold=800_000_000_000,
        block_queued_risk_increase=block,
    )
    maker = ex.create_user(balance=dollars("10000")).user_id
    user = ex.create_user(balance=dollars("2.1000")).user_id
    ex.place_order(maker, PlaceOrder(BTC, Side.ASK, 60000, 100, "a"))
    ex.place_order(user, PlaceOrder(BTC, Side.BID, 60000, 100, "b"))
    ex.place_order(maker, PlaceOrder(BTC, Side.BID, 50000, 1_000, "c"))
    ex.advance(1_000)
    ex.set_reference_price(BTC, 50000)  # equity 1.10, MM 0.9091: ratio 0.83, available 0.10
    return ex, user


@pytest.mark.parametrize("block", [False, True])
def test_queued_accounts_may_be_blocked_from_adding_risk(block):
    ex, user = _queued_exchange(block)
    assert ex.liquidator.state((user, 0)) == "queued"
    more = PlaceOrder(BTC, Side.BID, 49000, 1, "more")  # 0.01 contract

    if block:
        with pytest.raises(errors.InsufficientBalanceError):
            ex.place_order(user, more)
    else:
        assert ex.place_order(user, more).order.remaining_count == 1


def test_tickers_of_a_moving_index_show_that_second_s_reference():
    spec = dataclasses.replace(
        make_spec(), reference={"kind": "random_walk", "price": "6.2590", "volatility_bps": 5}
    )
    ex = make_exchange(spec, seed=3)
    after = ex.journal.last_seq

    ex.advance(30_000)

    tickers = [e for _, e in ex.events_since(after) if isinstance(e, TickerChanged)]
    assert len(tickers) >= 25
    references = [t.reference_price for t in tickers]
    assert all(r is not None and r[1] == t.ts_ms for r, t in zip(references, tickers, strict=True))
