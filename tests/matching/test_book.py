"""Unit tests of `matching.OrderBook`, one behaviour each."""

from __future__ import annotations

import io
import pickle
from typing import Any

import pytest

from matching import (
    KEEP,
    DuplicateOrderError,
    Event,
    Fill,
    InvalidOrderError,
    LevelChange,
    OrderBook,
    OrderNotFoundError,
    OrderUpdate,
    Reason,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

BID, ASK = Side.BID, Side.ASK
GTC = TimeInForce.GOOD_TILL_CANCELED
IOC = TimeInForce.IMMEDIATE_OR_CANCEL
FOK = TimeInForce.FILL_OR_KILL
MAKER = SelfTradePrevention.MAKER


def queue(book: OrderBook) -> list[tuple[object, str, int, int]]:
    """(id, side, price, remaining) of every live order in priority order."""
    return [(o.order_id, o.side.value, o.price, o.remaining) for o in book.orders()]


def fills(events: list[Event]) -> list[tuple[object, object, int, int]]:
    """(maker id, taker id, price, count) of the fills among `events`."""
    return [
        (e.maker_order_id, e.taker_order_id, e.price, e.count)
        for e in events
        if isinstance(e, Fill)
    ]


def updates(events: list[Event]) -> list[tuple[object, int, int, Reason]]:
    """(id, filled, remaining, reason) of the order updates among `events`."""
    return [
        (e.order_id, e.filled, e.remaining, e.reason) for e in events if isinstance(e, OrderUpdate)
    ]


def levels(events: list[Event]) -> list[tuple[str, int, int, int, Reason]]:
    """(side, price, count, delta, reason) of the level changes among `events`."""
    return [
        (e.side.value, e.price, e.count, e.delta, e.reason)
        for e in events
        if isinstance(e, LevelChange)
    ]


@pytest.fixture
def book() -> OrderBook:
    return OrderBook()


# Resting and price-time priority.


def test_order_that_does_not_cross_rests_and_reports_its_level(book: OrderBook) -> None:
    events = book.place("a", "u1", BID, 100, 300)

    assert events == [
        OrderUpdate(1, "a", "u1", BID, 100, 0, 300, Reason.NONE),
        LevelChange(2, BID, 100, 300, 300, "a", "u1", Reason.NONE),
    ]
    assert book.best_bid() == (100, 300)
    assert book.best_ask() is None
    assert book.seq == 2


def test_taker_fills_best_price_first_then_oldest_order_first(book: OrderBook) -> None:
    book.place("a1", "u1", ASK, 101, 100)
    book.place("a2", "u2", ASK, 100, 100)
    book.place("a3", "u3", ASK, 100, 100)

    events = book.place("b", "u4", BID, 101, 300)

    assert fills(events) == [("a2", "b", 100, 100), ("a3", "b", 100, 100), ("a1", "b", 101, 100)]
    assert queue(book) == []


def test_trade_executes_at_the_resting_order_price(book: OrderBook) -> None:
    book.place("b", "u1", BID, 105, 100)

    events = book.place("a", "u2", ASK, 90, 100)

    assert fills(events) == [("b", "a", 105, 100)]
    assert events[0] == Fill(3, 105, 100, ASK, "b", "u1", "a", "u2")


def test_fill_reports_maker_update_and_level_change_then_taker_update(book: OrderBook) -> None:
    book.place("m", "u1", ASK, 100, 500)

    events = book.place("t", "u2", BID, 100, 200)

    assert events == [
        Fill(3, 100, 200, BID, "m", "u1", "t", "u2"),
        OrderUpdate(4, "m", "u1", ASK, 100, 200, 300, Reason.TRADE),
        LevelChange(5, ASK, 100, 300, -200, "m", "u1", Reason.TRADE),
        OrderUpdate(6, "t", "u2", BID, 100, 200, 0, Reason.TRADE),
    ]


def test_partially_filled_taker_rests_the_remainder_at_its_limit(book: OrderBook) -> None:
    book.place("m", "u1", ASK, 100, 100)

    events = book.place("t", "u2", BID, 102, 250)

    assert updates(events)[-1] == ("t", 100, 150, Reason.TRADE)
    assert levels(events)[-1] == ("bid", 102, 150, 150, Reason.NONE)
    assert queue(book) == [("t", "bid", 102, 150)]


def test_events_are_numbered_consecutively_across_calls(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 100)
    book.place("b", "u2", ASK, 101, 100)
    events = book.place("c", "u3", BID, 101, 150)

    assert [e.seq for e in events] == list(range(5, 5 + len(events)))
    assert book.seq == events[-1].seq


# Time in force.


def test_immediate_or_cancel_fills_what_it_can_and_cancels_the_rest(book: OrderBook) -> None:
    book.place("m", "u1", ASK, 100, 100)

    events = book.place("t", "u2", BID, 100, 300, IOC)

    assert fills(events) == [("m", "t", 100, 100)]
    assert updates(events)[-1] == ("t", 100, 0, Reason.TRADE)
    assert queue(book) == []


def test_immediate_or_cancel_that_cannot_trade_is_cancelled_with_no_reason(
    book: OrderBook,
) -> None:
    events = book.place("t", "u2", BID, 100, 300, IOC)

    assert events == [OrderUpdate(1, "t", "u2", BID, 100, 0, 0, Reason.NONE)]
    assert len(book) == 0


def test_fill_or_kill_fills_completely_across_levels(book: OrderBook) -> None:
    book.place("m1", "u1", ASK, 100, 100)
    book.place("m2", "u1", ASK, 101, 100)

    events = book.place("t", "u2", BID, 101, 200, FOK)

    assert fills(events) == [("m1", "t", 100, 100), ("m2", "t", 101, 100)]
    assert updates(events)[-1] == ("t", 200, 0, Reason.TRADE)


def test_fill_or_kill_that_cannot_fill_completely_leaves_the_book_untouched(
    book: OrderBook,
) -> None:
    book.place("m1", "u1", ASK, 100, 100)
    book.place("m2", "u1", ASK, 102, 100)
    before = queue(book)

    events = book.place("t", "u2", BID, 101, 200, FOK)

    assert events == [OrderUpdate(5, "t", "u2", BID, 101, 0, 0, Reason.NONE)]
    assert queue(book) == before


def test_fill_or_kill_does_not_count_own_orders_under_taker_at_cross(book: OrderBook) -> None:
    book.place("own", "u1", ASK, 100, 100)
    book.place("other", "u2", ASK, 100, 100)

    events = book.place("t", "u1", BID, 100, 100, FOK)

    assert fills(events) == []
    assert queue(book) == [("own", "ask", 100, 100), ("other", "ask", 100, 100)]


def test_fill_or_kill_skips_own_orders_under_maker_prevention(book: OrderBook) -> None:
    book.place("own", "u1", ASK, 100, 100)
    book.place("other", "u2", ASK, 100, 100)

    events = book.place("t", "u1", BID, 100, 100, FOK, stp=MAKER)

    assert fills(events) == [("other", "t", 100, 100)]
    assert updates(events)[0] == ("own", 0, 0, Reason.SELF_TRADE_CANCEL)
    assert queue(book) == []


def test_fill_or_kill_with_own_orders_that_would_not_fill_does_not_cancel_them(
    book: OrderBook,
) -> None:
    book.place("own", "u1", ASK, 100, 100)
    book.place("other", "u2", ASK, 100, 50)

    events = book.place("t", "u1", BID, 100, 100, FOK, stp=MAKER)

    assert updates(events) == [("t", 0, 0, Reason.NONE)]
    assert queue(book) == [("own", "ask", 100, 100), ("other", "ask", 100, 50)]


# Post only.


def test_post_only_that_would_cross_is_cancelled_and_never_trades(book: OrderBook) -> None:
    book.place("m", "u1", ASK, 100, 100)

    events = book.place("t", "u2", BID, 100, 100, post_only=True)

    assert events == [OrderUpdate(3, "t", "u2", BID, 100, 0, 0, Reason.POST_ONLY_CROSS_CANCEL)]
    assert queue(book) == [("m", "ask", 100, 100)]


def test_post_only_that_does_not_cross_rests(book: OrderBook) -> None:
    book.place("m", "u1", ASK, 101, 100)

    book.place("t", "u2", BID, 100, 100, post_only=True)

    assert queue(book) == [("t", "bid", 100, 100), ("m", "ask", 101, 100)]


# Self-trade prevention.


def test_taker_at_cross_cancels_the_incoming_remainder_and_keeps_earlier_fills(
    book: OrderBook,
) -> None:
    book.place("other", "u2", ASK, 100, 100)
    book.place("own", "u1", ASK, 101, 100)
    book.place("behind", "u3", ASK, 101, 100)

    events = book.place("t", "u1", BID, 101, 300)

    assert fills(events) == [("other", "t", 100, 100)]
    assert updates(events)[-1] == ("t", 100, 0, Reason.SELF_TRADE_CANCEL)
    assert queue(book) == [("own", "ask", 101, 100), ("behind", "ask", 101, 100)]


def test_maker_prevention_cancels_own_resting_order_and_keeps_matching(book: OrderBook) -> None:
    book.place("own", "u1", ASK, 100, 100)
    book.place("other", "u2", ASK, 100, 100)

    events = book.place("t", "u1", BID, 100, 200, stp=MAKER)

    assert events[:2] == [
        OrderUpdate(5, "own", "u1", ASK, 100, 0, 0, Reason.SELF_TRADE_CANCEL),
        LevelChange(6, ASK, 100, 100, -100, "own", "u1", Reason.SELF_TRADE_CANCEL),
    ]
    assert fills(events) == [("other", "t", 100, 100)]
    assert queue(book) == [("t", "bid", 100, 100)]


# Reduce-only cap.


def test_max_fill_caps_the_order_and_cancels_the_excess_as_reduce_only(book: OrderBook) -> None:
    book.place("m", "u1", ASK, 100, 500)

    events = book.place("t", "u2", BID, 100, 300, IOC, max_fill=200)

    assert fills(events) == [("m", "t", 100, 200)]
    assert updates(events)[-1] == ("t", 200, 0, Reason.REDUCE_ONLY_CANCEL)


def test_max_fill_of_zero_cancels_the_order_before_it_trades(book: OrderBook) -> None:
    book.place("m", "u1", ASK, 100, 500)

    events = book.place("t", "u2", BID, 100, 300, IOC, max_fill=0)

    assert events == [OrderUpdate(3, "t", "u2", BID, 100, 0, 0, Reason.REDUCE_ONLY_CANCEL)]


def test_max_fill_above_the_count_changes_nothing(book: OrderBook) -> None:
    book.place("m", "u1", ASK, 100, 500)

    events = book.place("t", "u2", BID, 100, 300, IOC, max_fill=1_000)

    assert updates(events)[-1] == ("t", 300, 0, Reason.TRADE)


# Cancel, decrease, amend.


def test_cancel_removes_the_order_and_reports_the_caller_reason(book: OrderBook) -> None:
    book.place("a", "u1", BID, 100, 300)
    book.place("b", "u2", BID, 100, 200)

    events = book.cancel("a", Reason.MARGIN_CANCEL)

    assert events == [
        OrderUpdate(5, "a", "u1", BID, 100, 0, 0, Reason.MARGIN_CANCEL),
        LevelChange(6, BID, 100, 200, -300, "a", "u1", Reason.MARGIN_CANCEL),
    ]
    assert queue(book) == [("b", "bid", 100, 200)]


def test_cancel_of_the_last_order_removes_the_level(book: OrderBook) -> None:
    book.place("a", "u1", BID, 100, 300)

    events = book.cancel("a")

    assert levels(events) == [("bid", 100, 0, -300, Reason.NONE)]
    assert book.best_bid() is None
    assert book.depth().bids == []


def test_cancel_of_an_unknown_order_raises_and_changes_nothing(book: OrderBook) -> None:
    book.place("a", "u1", BID, 100, 300)

    with pytest.raises(OrderNotFoundError):
        book.cancel("zz")

    assert queue(book) == [("a", "bid", 100, 300)]
    assert book.seq == 2


def test_decrease_keeps_time_priority(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300)
    book.place("b", "u2", ASK, 100, 300)

    events = book.decrease("a", reduce_by=200)
    trade = book.place("t", "u3", BID, 100, 100)

    assert updates(events) == [("a", 0, 100, Reason.DECREASE)]
    assert levels(events) == [("ask", 100, 400, -200, Reason.DECREASE)]
    assert fills(trade) == [("a", "t", 100, 100)]


def test_decrease_to_a_count_keeps_time_priority(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300)
    book.place("b", "u2", ASK, 100, 300)

    book.decrease("a", reduce_to=50)

    assert queue(book) == [("a", "ask", 100, 50), ("b", "ask", 100, 300)]


def test_decrease_to_zero_cancels_the_order(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300)

    events = book.decrease("a", reduce_to=0)

    assert updates(events) == [("a", 0, 0, Reason.DECREASE)]
    assert len(book) == 0


def test_decrease_by_more_than_remains_cancels_the_order(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300)

    events = book.decrease("a", reduce_by=1_000)

    assert updates(events) == [("a", 0, 0, Reason.DECREASE)]
    assert len(book) == 0


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"reduce_by": 1, "reduce_to": 1}, {"reduce_by": 0}, {"reduce_to": 301}, {"reduce_to": -1}],
)
def test_decrease_with_bad_arguments_raises_and_changes_nothing(
    book: OrderBook, kwargs: dict[str, int]
) -> None:
    book.place("a", "u1", ASK, 100, 300)

    with pytest.raises(InvalidOrderError):
        book.decrease("a", **kwargs)

    assert queue(book) == [("a", "ask", 100, 300)]


def test_amend_lowering_the_count_at_the_same_price_keeps_priority(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300)
    book.place("b", "u2", ASK, 100, 300)

    events = book.amend("a", price=100, count=200)

    assert updates(events) == [("a", 0, 200, Reason.AMEND)]
    assert levels(events) == [("ask", 100, 500, -100, Reason.AMEND)]
    assert queue(book) == [("a", "ask", 100, 200), ("b", "ask", 100, 300)]


def test_amend_raising_the_count_loses_priority(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300)
    book.place("b", "u2", ASK, 100, 300)

    events = book.amend("a", price=100, count=400)

    assert levels(events) == [
        ("ask", 100, 300, -300, Reason.AMEND),
        ("ask", 100, 700, 400, Reason.AMEND),
    ]
    assert queue(book) == [("b", "ask", 100, 300), ("a", "ask", 100, 400)]


def test_amend_of_the_price_loses_priority(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 101, 300)
    book.place("b", "u2", ASK, 100, 300)

    book.amend("a", price=100, count=300)

    assert queue(book) == [("b", "ask", 100, 300), ("a", "ask", 100, 300)]


def test_amend_count_is_the_total_including_what_already_filled(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300)
    book.place("t", "u2", BID, 100, 100)

    events = book.amend("a", price=100, count=250)

    assert updates(events) == [("a", 100, 150, Reason.AMEND)]
    assert queue(book) == [("a", "ask", 100, 150)]


def test_amend_to_no_more_than_the_filled_count_raises(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300)
    book.place("t", "u2", BID, 100, 100)

    with pytest.raises(InvalidOrderError):
        book.amend("a", price=100, count=100)

    assert queue(book) == [("a", "ask", 100, 200)]


def test_amend_that_crosses_matches_like_a_new_order(book: OrderBook) -> None:
    book.place("b", "u1", BID, 100, 200)
    book.place("a", "u2", ASK, 102, 300)

    events = book.amend("a", price=100, count=300)

    assert levels(events)[0] == ("ask", 102, 0, -300, Reason.AMEND)
    assert fills(events) == [("b", "a", 100, 200)]
    assert updates(events)[-1] == ("a", 200, 100, Reason.TRADE)
    assert levels(events)[-1] == ("ask", 100, 100, 100, Reason.AMEND)
    assert queue(book) == [("a", "ask", 100, 100)]


def test_amend_of_a_post_only_order_that_would_cross_cancels_it(book: OrderBook) -> None:
    book.place("b", "u1", BID, 100, 200)
    book.place("a", "u2", ASK, 102, 300, post_only=True)

    events = book.amend("a", price=100, count=300)

    assert updates(events) == [("a", 0, 0, Reason.POST_ONLY_CROSS_CANCEL)]
    assert queue(book) == [("b", "bid", 100, 200)]


def test_amend_of_the_expiry_alone_keeps_priority(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300, expires_at=50)
    book.place("b", "u2", ASK, 100, 300)

    book.amend("a", price=100, count=300, expires_at=90)

    assert queue(book) == [("a", "ask", 100, 300), ("b", "ask", 100, 300)]
    assert book.next_expiry() == 90


def test_amend_keeps_the_expiry_unless_told(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300, expires_at=50)

    book.amend("a", price=101, count=300, expires_at=KEEP)

    assert book.order("a").expires_at == 50
    assert book.expire(50)[0] == OrderUpdate(6, "a", "u1", ASK, 101, 0, 0, Reason.EXPIRY_CANCEL)


# Mass cancel and expiry.


def test_cancel_owner_cancels_only_that_owner_oldest_first(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 101, 100)
    book.place("b", "u2", ASK, 100, 100)
    book.place("c", "u1", BID, 99, 100)

    events = book.cancel_owner("u1")

    assert updates(events) == [("a", 0, 0, Reason.NONE), ("c", 0, 0, Reason.NONE)]
    assert queue(book) == [("b", "ask", 100, 100)]
    assert book.orders_of("u1") == []


def test_orders_of_follows_arrival_across_amends(book: OrderBook) -> None:
    book.place("a", "u1", BID, 99, 100)
    book.place("b", "u2", BID, 98, 100)
    book.place("c", "u1", BID, 97, 100)
    book.amend("a", price=96, count=100)  # a new price: to the back, a later arrival
    book.amend("c", price=97, count=50)  # in place: priority kept

    assert [o.order_id for o in book.orders_of("u1")] == ["c", "a"]
    book.check_invariants()


def test_a_book_pickled_with_the_old_owner_index_and_seq_name_loads(book: OrderBook) -> None:
    # snapshots written before the book dropped its index by owner hold it in the book's state,
    # and its seq under `_seq`
    book.place("a", "u1", ASK, 101, 100)
    book.place("b", "u2", BID, 99, 100)

    class OldFormat(pickle.Pickler):
        def reducer_override(self, obj: object) -> Any:
            if type(obj) is not OrderBook:
                return NotImplemented
            reduced: Any = obj.__reduce_ex__(4)
            function, args, (_, slots) = reduced[:3]
            index = {"u1": {"a": book.order("a")}, "u2": {"b": book.order("b")}}
            old = {"_seq" if name == "seq" else name: value for name, value in slots.items()}
            return function, args, (None, {**old, "_by_owner": index})

    buffer = io.BytesIO()
    OldFormat(buffer, protocol=4).dump(book)
    loaded = pickle.loads(buffer.getvalue())

    loaded.check_invariants()
    assert [o.order_id for o in loaded.orders_of("u1")] == ["a"]
    assert not hasattr(loaded, "_by_owner")
    assert not hasattr(loaded, "_seq")
    assert loaded.seq == book.seq == 4  # each resting place: an update and a level change
    assert [e.count for e in loaded.place("c", "u3", BID, 101, 100) if isinstance(e, Fill)] == [100]


def test_expire_cancels_orders_due_by_now_in_expiry_order(book: OrderBook) -> None:
    book.place("late", "u1", ASK, 101, 100, expires_at=20)
    book.place("early", "u1", ASK, 102, 100, expires_at=10)
    book.place("never", "u1", ASK, 103, 100)

    assert book.expire(9) == []
    events = book.expire(20)

    assert updates(events) == [
        ("early", 0, 0, Reason.EXPIRY_CANCEL),
        ("late", 0, 0, Reason.EXPIRY_CANCEL),
    ]
    assert queue(book) == [("never", "ask", 103, 100)]
    assert book.next_expiry() is None


def test_expiry_of_an_order_that_already_left_the_book_is_ignored(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 101, 100, expires_at=10)
    book.cancel("a")

    assert book.next_expiry() is None
    assert book.expire(10) == []


def test_many_expiring_orders_that_leave_early_do_not_pile_up(book: OrderBook) -> None:
    for i in range(1_000):
        book.place(i, "u1", ASK, 100, 100, expires_at=10_000 + i)
        book.cancel(i)
    book.place("kept", "u1", ASK, 100, 100, expires_at=5)

    assert book.next_expiry() == 5
    assert len(book._expiries) < 200  # stale entries are swept as they accumulate


# Validation.


@pytest.mark.parametrize(("price", "count"), [(0, 100), (-1, 100), (1 << 62, 100), (100, 0)])
def test_place_with_an_out_of_range_price_or_count_raises(
    book: OrderBook, price: int, count: int
) -> None:
    with pytest.raises(InvalidOrderError):
        book.place("a", "u1", BID, price, count)

    assert len(book) == 0
    assert book.seq == 0


@pytest.mark.parametrize(
    "kwargs", [{"side": "bid"}, {"tif": "good_till_canceled"}, {"stp": "maker"}]
)
def test_place_with_plain_strings_for_enums_raises(book: OrderBook, kwargs: dict[str, str]) -> None:
    args: dict[str, object] = {"side": BID, "tif": GTC, "stp": MAKER, **kwargs}

    with pytest.raises(InvalidOrderError):
        book.place("a", "u1", price=100, count=100, **args)  # type: ignore[arg-type]

    assert len(book) == 0


def test_place_with_a_live_order_id_raises(book: OrderBook) -> None:
    book.place("a", "u1", BID, 100, 100)

    with pytest.raises(DuplicateOrderError):
        book.place("a", "u2", ASK, 200, 100)


def test_an_order_id_may_be_reused_once_the_order_left_the_book(book: OrderBook) -> None:
    book.place("a", "u1", BID, 100, 100, IOC)

    book.place("a", "u1", BID, 100, 100)

    assert queue(book) == [("a", "bid", 100, 100)]


# Depth and dead queue entries.


def test_depth_lists_the_best_levels_first(book: OrderBook) -> None:
    for i, price in enumerate([99, 100, 98]):
        book.place(f"b{i}", "u1", BID, price, 100 * (i + 1))
    for i, price in enumerate([103, 101, 102]):
        book.place(f"a{i}", "u2", ASK, price, 100 * (i + 1))

    depth = book.depth(levels=2)

    assert depth.bids == [(100, 200), (99, 100)]
    assert depth.asks == [(101, 200), (102, 300)]


def test_depth_aggregates_bids_down_and_asks_up_to_the_tick(book: OrderBook) -> None:
    for i, price in enumerate([1009, 1001, 995]):
        book.place(f"b{i}", "u1", BID, price, 100)
    for i, price in enumerate([1011, 1020, 1021]):
        book.place(f"a{i}", "u2", ASK, price, 100)

    depth = book.depth(levels=1, tick=10)

    assert depth.bids == [(1000, 200)]
    assert depth.asks == [(1020, 200)]
    assert book.depth(tick=10).bids == [(1000, 200), (990, 100)]


@pytest.mark.parametrize(("levels_", "tick"), [(-1, 1), (0, 0)])
def test_depth_with_bad_arguments_raises(book: OrderBook, levels_: int, tick: int) -> None:
    with pytest.raises(InvalidOrderError):
        book.depth(levels_, tick)


def test_cancels_deep_in_a_queue_keep_fifo_and_compact_the_queue(book: OrderBook) -> None:
    book.place("head", "u1", ASK, 100, 100)
    for i in range(200):
        book.place(i, "u2", ASK, 100, 100)
    for i in range(0, 200, 2):
        book.cancel(i)
    book.check_invariants()

    events = book.place("t", "u3", BID, 100, 300)

    assert [f[0] for f in fills(events)] == ["head", 1, 3]
    level = book._asks.levels[100]
    assert len(level.queue) <= 2 * level.live + 16
    book.check_invariants()


def test_emptied_levels_are_reused_and_purged_once_they_pile_up(book: OrderBook) -> None:
    book.place("keep", "u1", ASK, 100, 100)
    for price in range(101, 1_101):
        book.place(price, "u2", ASK, price, 100)
        book.cancel(price)
    book.check_invariants()

    assert len(book._asks.levels) < 100
    book.place("again", "u2", ASK, 1_100, 100)
    assert book.best_ask() == (100, 100)
    assert book.depth().asks == [(100, 100), (1_100, 100)]
    book.check_invariants()


def test_sweeping_past_emptied_levels_finds_the_next_occupied_one(book: OrderBook) -> None:
    for price in (100, 101, 102, 103):
        book.place(price, "u1", ASK, price, 100)
    book.cancel(101)
    book.cancel(102)

    book.place("t", "u2", BID, 100, 100)

    assert book.best_ask() == (103, 100)
    book.check_invariants()


def test_amend_clearing_the_expiry_keeps_priority_and_the_order(book: OrderBook) -> None:
    book.place("a", "u1", ASK, 100, 300, expires_at=50)
    book.place("b", "u2", ASK, 100, 300)

    book.amend("a", price=100, count=300, expires_at=None)

    assert book.next_expiry() is None
    assert book.expire(50) == []
    assert queue(book) == [("a", "ask", 100, 300), ("b", "ask", 100, 300)]
