"""Structural checks of a book, in the spirit of `SortedList._check()`: run after any mutation."""

from __future__ import annotations

from matching.errors import BookInvariantError
from matching.levels import EMPTY_KEY, EMPTY_SLACK, BookSide
from matching.orders import Order, OrderId


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BookInvariantError(message)


def check_side(side: BookSide, orders: dict[OrderId, Order]) -> int:
    """Check one side against the id index; return its number of live orders."""
    keys = list(side.keys)
    _require(keys == sorted(set(keys)), f"{side.side} keys not strictly sorted: {keys}")
    _require(set(keys) == set(side.levels), f"{side.side} keys and levels disagree")
    occupied = [key for key in keys if side.levels[key].total]
    best = occupied[0] if occupied else EMPTY_KEY
    _require(side.best_key == best, f"{side.side} best key {side.best_key}, should be {best}")
    empty = len(keys) - len(occupied)
    _require(side.empty == empty, f"{side.side} counts {side.empty} empty levels, has {empty}")
    _require(2 * empty <= len(keys) + EMPTY_SLACK, f"{side.side} keeps {empty} empty levels")
    live = 0
    for key in keys:
        level = side.levels[key]
        _require(level.price * side.sign == key, f"level {level.price} filed under key {key}")
        queue = level.orders()
        total = sum(order.remaining for order in queue)
        _require(level.total == total, f"level {level.price} total {level.total}, orders {total}")
        _require(level.live == len(queue), f"level {level.price} live {level.live}, {len(queue)}")
        _require(bool(level.queue) or not total, f"level {level.price} lost its queue")
        _require(total > 0 or not level.queue, f"empty level {level.price} keeps a queue")
        arrivals = [order.arrival for order in queue]
        _require(arrivals == sorted(set(arrivals)), f"level {level.price} not FIFO: {arrivals}")
        for order in queue:
            _require(
                order.side is side.side and order.price == level.price,
                f"order {order.order_id!r} at the wrong level",
            )
            _require(orders.get(order.order_id) is order, f"order {order.order_id!r} not indexed")
            _require(order.filled >= 0, f"order {order.order_id!r} filled {order.filled}")
        live += len(queue)
    return live


def check_book(bids: BookSide, asks: BookSide, orders: dict[OrderId, Order]) -> None:
    """Check both sides, the crossing rule and the id index (in arrival order)."""
    live = check_side(bids, orders) + check_side(asks, orders)
    _require(live == len(orders), f"{len(orders)} orders indexed, {live} on the levels")
    best_bid, best_ask = bids.best_price(), asks.best_price()
    _require(
        best_bid is None or best_ask is None or best_bid < best_ask,
        f"book crossed: bid {best_bid} >= ask {best_ask}",
    )
    arrivals = [order.arrival for order in orders.values()]
    _require(arrivals == sorted(arrivals), "id index not in arrival order")
