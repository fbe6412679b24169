"""`OrderBook.check_invariants` must notice each kind of corruption it claims to check."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from matching import BookInvariantError, OrderBook, Side


def _book() -> OrderBook:
    book = OrderBook()
    book.place("b1", "u1", Side.BID, 99, 100)
    book.place("b2", "u2", Side.BID, 99, 200)
    book.place("a1", "u1", Side.ASK, 101, 300)
    return book


def _cross(book: OrderBook) -> None:
    level = book._asks.levels.pop(101)
    book._asks.keys.remove(101)
    level.price = 98
    book._asks.levels[98] = level
    book._asks.keys.add(98)
    book._asks.best_key = 98
    level.queue[0].price = 98


def _swap_fifo(book: OrderBook) -> None:
    queue = book._bids.levels[-99].queue
    queue[0], queue[1] = queue[1], queue[0]


def _stale_total(book: OrderBook) -> None:
    book._bids.levels[-99].total += 1


def _stale_best(book: OrderBook) -> None:
    book._bids.best_key = -98


def _unindexed(book: OrderBook) -> None:
    del book._orders["b1"]


def _index_order(book: OrderBook) -> None:
    first = next(iter(book._orders))  # the oldest order, moved to the end of the id index
    book._orders[first] = book._orders.pop(first)


def _empty_level(book: OrderBook) -> None:
    book._asks.levels[101].queue[0].remaining = 0


CORRUPTIONS: list[Callable[[OrderBook], None]] = [
    _cross,
    _swap_fifo,
    _stale_total,
    _stale_best,
    _unindexed,
    _index_order,
    _empty_level,
]


def test_a_sound_book_passes() -> None:
    _book().check_invariants()


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__.strip("_"))
def test_each_corruption_is_detected(corrupt: Callable[[OrderBook], None]) -> None:
    book = _book()

    corrupt(book)

    with pytest.raises(BookInvariantError):
        book.check_invariants()
