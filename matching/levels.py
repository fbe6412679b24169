"""One side of a book: price levels kept sorted, each level a FIFO queue of orders.

Each side keys its levels by `price * sign` (asks +1, bids -1), so on both sides the smallest
key is the best price and "a taker at limit L can trade here" is the single comparison
`key <= L * sign`. The keys live in a `SortedList`; the best key is cached.

A level's queue is a `deque` of orders in arrival order. Leaving the book sets an order's
`remaining` to 0; the head is popped at once, an order deeper in the queue stays there, dead,
until matching reaches it or the queue is compacted (when dead entries outnumber live ones).
This keeps cancel O(1) without a linked list of Python objects.

=====================================  ==========
Operation                              Complexity
=====================================  ==========
Add to an existing level               O(1)
Add at a new price level               O(log L)
Remove an order (level stays)          O(1) amortised
Remove the last order of a level       O(log L)
Best price                             O(1)
=====================================  ==========

`L` is the number of price levels on the side.
"""

from __future__ import annotations

from collections import deque

from sortedcontainers import SortedList

from matching.enums import Side
from matching.orders import Order

MAX_PRICE = 1 << 62
"""Prices are 0 < price < MAX_PRICE ticks, which keeps `EMPTY_KEY` above every real key."""

EMPTY_KEY = 1 << 63
"""`best_key` of a side with no levels: no taker limit reaches it."""


class PriceLevel:
    """All resting orders at one price: `total` is the sum of their counts, `live` their number."""

    __slots__ = ("live", "price", "queue", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.total = 0
        self.live = 0
        self.queue: deque[Order] = deque()

    def orders(self) -> list[Order]:
        """Live orders, oldest first."""
        return [order for order in self.queue if order.remaining]

    def compact(self) -> None:
        """Drop the dead orders from the queue."""
        self.queue = deque(order for order in self.queue if order.remaining)


class BookSide:
    """The levels of one side, best first by key."""

    __slots__ = ("best_key", "keys", "levels", "side", "sign")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.sign = -1 if side is Side.BID else 1
        self.levels: dict[int, PriceLevel] = {}
        self.keys: SortedList[int] = SortedList()
        self.best_key = EMPTY_KEY

    def add_level(self, key: int, price: int) -> PriceLevel:
        """Create and return the (absent) level at `price`, filed under `key`."""
        level = self.levels[key] = PriceLevel(price)
        self.keys.add(key)
        if key < self.best_key:
            self.best_key = key
        return level

    def drop(self, key: int) -> None:
        """Remove the (empty) level at `key`."""
        del self.levels[key]
        keys = self.keys
        keys.remove(key)
        if key == self.best_key:
            self.best_key = keys[0] if keys else EMPTY_KEY

    def best_price(self) -> int | None:
        """Best price on this side, or None when it is empty."""
        key = self.best_key
        return None if key == EMPTY_KEY else key * self.sign

    def best_level(self) -> PriceLevel | None:
        """Best level on this side, or None when it is empty."""
        return self.levels.get(self.best_key)
