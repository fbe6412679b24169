"""One side of a book: price levels kept sorted, each level a FIFO queue of orders.

Each side keys its levels by `price * sign` (asks +1, bids -1), so on both sides the smallest
key is the best price and "a taker at limit L can trade here" is the single comparison
`key <= L * sign`. The keys live in a `SortedList`; the best key is cached.

A level's queue is a `deque` of orders in arrival order. Leaving the book sets an order's
`remaining` to 0; the head is popped at once, an order deeper in the queue stays there, dead,
until matching reaches it or the queue is compacted (when dead entries outnumber live ones).
This keeps cancel O(1) without a linked list of Python objects.

A level that empties stays listed, empty, so that the next order at that price (prices near
the touch recur all the time) reuses it instead of paying a `SortedList` insert and removal
(about 0.9 to 1.7 us together, measured on 25 and 2,000 keys). Empty levels are purged in one
sweep once they outnumber the occupied ones, which bounds them and amortises the sweep.

=====================================  ==========
Operation                              Complexity
=====================================  ==========
Add to a listed level                  O(1)
Add at a new price                     O(log L)
Remove an order                        O(1) amortised
Best price                             O(1)
Next best after the best empties       O(1) when near, else O(log L + E)
=====================================  ==========

`L` is the number of listed levels on the side and `E` the empty ones passed over.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from sortedcontainers import SortedList

from matching.enums import Side
from matching.orders import Order

MAX_PRICE = 1 << 62
"""Prices are 0 < price < MAX_PRICE ticks, which keeps `EMPTY_KEY` above every real key."""

EMPTY_KEY = 1 << 63
"""`best_key` of a side with no occupied level: no taker limit reaches it."""

EMPTY_SLACK = 64
"""Empty levels a side may list beyond its occupied ones before they are purged."""

_PROBES = 4  # ticks tried by dict lookup before searching the sorted keys


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
        """Drop the dead orders from the queue, in place (matching may hold the queue)."""
        queue = self.queue
        live = [order for order in queue if order.remaining]
        queue.clear()
        queue.extend(live)


class BookSide:
    """The levels of one side, best first by key; `empty` counts listed levels with no orders."""

    __slots__ = ("best_key", "empty", "keys", "levels", "side", "sign")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.sign = -1 if side is Side.BID else 1
        self.levels: dict[int, PriceLevel] = {}
        self.keys: SortedList[int] = SortedList()
        self.best_key = EMPTY_KEY
        self.empty = 0

    def open_level(self, key: int, price: int) -> PriceLevel:
        """Return the level at `price` (filed under `key`), which is absent or empty, for use."""
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = PriceLevel(price)
            self.keys.add(key)
        else:
            self.empty -= 1
        if key < self.best_key:
            self.best_key = key
        return level

    def close_level(self, key: int, level: PriceLevel) -> None:
        """Note that `level`, filed under `key`, has just lost its last order."""
        level.queue.clear()
        self.empty += 1
        if key == self.best_key:
            self.best_key = self.next_occupied(key)
        self.purge_if_due()

    def next_occupied(self, key: int) -> int:
        """The smallest key above `key` whose level has orders, or `EMPTY_KEY`.

        Keys are whole ticks, so when a level a few ticks away is occupied, no key in between
        can be: a few dict probes then find it without a `SortedList` search (about 1 us).
        """
        levels = self.levels
        for candidate in range(key + 1, key + 1 + _PROBES):
            level = levels.get(candidate)
            if level is not None and level.total:
                return candidate
        for candidate in self.keys.irange(key + _PROBES, inclusive=(False, True)):
            if levels[candidate].total:
                return candidate
        return EMPTY_KEY

    def purge_if_due(self) -> None:
        """Unlist the empty levels once they outnumber the occupied ones (plus a slack)."""
        levels = self.levels
        if 2 * self.empty > len(levels) + EMPTY_SLACK:
            for stale in [k for k, lv in levels.items() if not lv.total]:
                del levels[stale]  # in place: callers may hold this dict
            self.keys.clear()
            self.keys.update(levels)
            self.empty = 0

    def occupied(self) -> Iterator[tuple[int, int]]:
        """`(price, total)` of the levels with orders, best first, read lazily (the side must
        not change meanwhile).

        Runtime complexity: `O(k)` for the `k` listed levels read (from the best to the last
        one yielded, empty levels between included).
        """
        by_key = self.levels
        left = len(by_key) - self.empty  # levels with orders: none is left once all are read
        if not left:
            return
        # from the best level on: emptied levels better than it may still be listed
        for key in self.keys.irange(minimum=self.best_key):
            level = by_key[key]
            total = level.total
            if total:
                yield level.price, total
                left -= 1
                if not left:
                    return

    def best_price(self) -> int | None:
        """Best price on this side, or None when it is empty."""
        key = self.best_key
        return None if key == EMPTY_KEY else key * self.sign

    def best_level(self) -> PriceLevel | None:
        """Best level on this side, or None when it is empty."""
        return self.levels.get(self.best_key)
