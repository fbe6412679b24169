"""The order book of one market: price-time matching, cancels, decreases, amends, expiry.

Pure and synchronous: no I/O, no clock reads, no money. The caller passes order ids, owner
keys and expiry timestamps in (any unit, as long as it is the same for `expires_at` and
`expire(now)`). Each command returns the events it caused, in order (see `matching.events`).

Rules (Kalshi margin order docs; `MECHANICS.md` §3.6):

- Price-time priority; a trade executes at the resting (maker) order's price.
- `immediate_or_cancel` fills what it can and cancels the rest; `fill_or_kill` fills
  completely or does nothing, decided before the book is touched.
- `post_only` that would cross is cancelled with `PostOnlyCrossCancel` and never trades.
- Self-trade prevention follows the incoming order's type: `taker_at_cross` cancels the
  incoming remainder when it meets its owner's resting order (fills made before stand);
  `maker` cancels that resting order with `SelfTradeCancel` and keeps matching.
- Decreases keep time priority; an amend keeps it only when the price is unchanged and the
  count does not grow (an expiry-only amend included); otherwise the order goes to the back
  of its new level and, if it crosses, matches like a new order.
- `max_fill` caps what an order may fill (reduce-only): the excess is cancelled at placement
  with `ReduceOnlyCancel`.

Assumption: a cancel's reason is the caller's (`Reason.NONE` unless told otherwise), since
Kalshi's `last_update_reason` has no value for a plain user cancel.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from enum import Enum
from typing import Final

from matching.depth import Depth, aggregate
from matching.enums import Reason, SelfTradePrevention, Side, TimeInForce
from matching.errors import DuplicateOrderError, InvalidOrderError, OrderNotFoundError
from matching.events import Event, Fill, LevelChange, OrderUpdate
from matching.invariants import check_book
from matching.levels import EMPTY_KEY, MAX_PRICE, BookSide
from matching.orders import Order, OrderId, Owner

_GTC = TimeInForce.GOOD_TILL_CANCELED
_IOC = TimeInForce.IMMEDIATE_OR_CANCEL
_FOK = TimeInForce.FILL_OR_KILL
_BID = Side.BID
_ASK = Side.ASK
_MAKER = SelfTradePrevention.MAKER
_TAKER = SelfTradePrevention.TAKER_AT_CROSS
_TRADE = Reason.TRADE
_NONE = Reason.NONE
_AMEND = Reason.AMEND


class _Keep(Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
"""Pass as `expires_at` to `OrderBook.amend` to leave the expiry as it is."""

_QUEUE_SLACK = 16  # dead entries a level's queue may carry beyond its live ones
_HEAP_SLACK = 64  # stale expiry entries tolerated beyond the live orders before a rebuild


class OrderBook:
    """Both sides of one market, an index of live orders by id (in arrival order), and expiries.

    Attributes:
        seq: Sequence number of the last event this book emitted (0 before the first); callers
            read it and never set it.
    """

    __slots__ = (
        "_arrivals",
        "_asks",
        "_bids",
        "_expiries",
        "_orders",
        "_pushes",
        "seq",
    )

    def __init__(self) -> None:
        self._bids = BookSide(Side.BID)
        self._asks = BookSide(Side.ASK)
        self._orders: dict[OrderId, Order] = {}  # in arrival order (`_rest` inserts)
        self._expiries: list[tuple[int, int, int, Order]] = []
        self.seq = 0  # read-only to callers: a plain attribute, read for every book change
        self._arrivals = 0
        self._pushes = 0

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        # pickles of earlier versions (snapshots, exports) also hold `_by_owner`, an index by
        # owner the book no longer keeps (`orders_of`), and name `seq` `_seq`
        _, slots = state
        for name, value in slots.items():
            if name != "_by_owner":
                setattr(self, "seq" if name == "_seq" else name, value)

    # Queries.

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def order(self, order_id: OrderId) -> Order:
        """The live order with this id. The book owns it: read it, never change it.

        Raises:
            OrderNotFoundError: no live order has this id.
        """
        order = self._orders.get(order_id)
        if order is None:
            raise OrderNotFoundError(f"no live order with id {order_id!r}")
        return order

    def orders(self) -> list[Order]:
        """Every live order, bids best first then asks best first, oldest first per level."""
        return [
            o
            for side in (self._bids, self._asks)
            for key in side.keys
            for o in side.levels[key].orders()
        ]

    def orders_of(self, owner: Owner) -> list[Order]:
        """The owner's live orders, oldest arrival first.

        Runtime complexity: `O(n)` in the book's live orders. The book keeps no index by owner:
        keeping one (a dict per owner, written by every rest, cancel and fill) cost 11 to 17 %
        of the book's throughput in `benchmarks/bench_matching.py`, for a query the exchange
        does not make (it cancels a user's orders from its own records).
        """
        return [order for order in self._orders.values() if order.owner == owner]

    def best_bid(self) -> tuple[int, int] | None:
        """`(price, count)` of the best bid, or None."""
        side = self._bids
        level = side.levels.get(side.best_key)  # `best_level`, inlined
        return None if level is None else (level.price, level.total)

    def best_ask(self) -> tuple[int, int] | None:
        """`(price, count)` of the best ask, or None."""
        side = self._asks
        level = side.levels.get(side.best_key)  # `best_level`, inlined
        return None if level is None else (level.price, level.total)

    def levels(self, side: Side) -> Iterator[tuple[int, int]]:
        """`(price, count)` of each occupied level of one side, best first, read lazily.

        What `depth()` lists for that side, one level at a time: a reader that needs only the
        first few (an impact price) reads only those. The book must not change while it runs.
        """
        return (self._bids if side is _BID else self._asks).occupied()

    def best_prices(self) -> tuple[int | None, int | None]:
        """`(best bid, best ask)` prices, None for an empty side (one call for both)."""
        bid_key, ask_key = self._bids.best_key, self._asks.best_key
        return (
            None if bid_key == EMPTY_KEY else -bid_key,
            None if ask_key == EMPTY_KEY else ask_key,
        )

    def depth(self, levels: int = 0, tick: int = 1) -> Depth:
        """Aggregate levels per side, best first: at most `levels` (0 = all) buckets of `tick`.

        Bids bucket down to a multiple of `tick` and asks up, so an aggregated level never
        shows a better price than an order in it has (REST `aggregation_tick_size`).

        >>> book = OrderBook()
        >>> _ = book.place("a", "u1", Side.BID, 1003, 200)
        >>> _ = book.place("b", "u1", Side.BID, 1009, 100)
        >>> _ = book.place("c", "u2", Side.ASK, 1012, 300)
        >>> book.depth(tick=10)
        Depth(bids=[(1000, 300)], asks=[(1020, 300)])
        """
        if levels < 0:
            raise InvalidOrderError(f"levels must be >= 0, was {levels}")
        if tick <= 0:
            raise InvalidOrderError(f"tick must be > 0, was {tick}")
        return Depth(aggregate(self._bids, levels, tick), aggregate(self._asks, levels, tick))

    def next_expiry(self) -> int | None:
        """Earliest `expires_at` among live orders, or None."""
        heap = self._expiries
        while heap:
            expires_at, _, _, order = heap[0]
            if self._expiry_is_current(expires_at, order):
                return expires_at
            heapq.heappop(heap)
        return None

    def check_invariants(self) -> None:
        """Raise `BookInvariantError` unless the book is structurally sound.

        Checks: not crossed; each side's keys, levels and cached best agree; every level's
        total and live count equal its live orders'; live orders are in arrival order within a
        level; the id index holds exactly the live orders, in arrival order.
        """
        check_book(self._bids, self._asks, self._orders)

    # Commands.

    def place(
        self,
        order_id: OrderId,
        owner: Owner,
        side: Side,
        price: int,
        count: int,
        tif: TimeInForce = _GTC,
        *,
        post_only: bool = False,
        stp: SelfTradePrevention = _TAKER,
        expires_at: int | None = None,
        max_fill: int | None = None,
    ) -> list[Event]:
        """Match a new order and rest what is left if it is good till cancelled.

        Returns the fills with each maker's update and level change, then the new order's
        update, then (if it rests) its level change.

        Raises:
            InvalidOrderError: price or count out of range, an argument of the wrong type, or
                a negative `max_fill`.
            DuplicateOrderError: `order_id` is live on this book.
        """
        if not 0 < price < MAX_PRICE:
            raise InvalidOrderError(f"price must be in 1..{MAX_PRICE - 1} ticks, was {price}")
        if count <= 0:
            raise InvalidOrderError(f"count must be > 0, was {count}")
        if side is _BID:
            book_side = self._bids
            crosses = self._asks.best_key <= price
        elif side is _ASK:
            book_side = self._asks
            crosses = self._bids.best_key <= -price
        else:
            raise InvalidOrderError(f"side must be a Side, was {side!r}")
        if tif is not _GTC and tif is not _IOC and tif is not _FOK:
            raise InvalidOrderError(f"tif must be a TimeInForce, was {tif!r}")
        if stp is not _TAKER and stp is not _MAKER:
            raise InvalidOrderError(f"stp must be a SelfTradePrevention, was {stp!r}")
        if order_id in self._orders:
            raise DuplicateOrderError(f"order id {order_id!r} is already on the book")
        capped = False
        if max_fill is not None:
            if max_fill < 0:
                raise InvalidOrderError(f"max_fill must be >= 0, was {max_fill}")
            if max_fill < count:
                capped = True
                count = max_fill
        if crosses or capped or tif is not _GTC:
            order = Order(order_id, owner, side, price, count, 0, post_only, stp, expires_at, 0)
            events: list[Event] = []
            self._execute(order, tif, capped, _NONE, events)
            return events
        # the common case, nothing to match: `_rest`, inlined (it is most of what books do)
        key = price * book_side.sign
        level = book_side.levels.get(key)
        if level is None:
            level = book_side.open_level(key, price)
        elif not level.total:  # `open_level` of a listed empty level, inlined
            book_side.empty -= 1
            if key < book_side.best_key:
                book_side.best_key = key
        arrival = self._arrivals = self._arrivals + 1
        order = Order(order_id, owner, side, price, count, 0, post_only, stp, expires_at, arrival)
        level.queue.append(order)
        total = level.total = level.total + count
        level.live += 1
        self._orders[order_id] = order
        if expires_at is not None:
            self._schedule(order)
        seq = self.seq = self.seq + 2
        return [
            OrderUpdate(seq - 1, order_id, owner, side, price, 0, count, _NONE),
            LevelChange(seq, side, price, total, count, order_id, owner, _NONE),
        ]

    def cancel(self, order_id: OrderId, reason: Reason = _NONE) -> list[Event]:
        """Take a live order off the book.

        Raises:
            OrderNotFoundError: no live order has this id.
        """
        orders = self._orders
        order = orders.get(order_id)
        if order is None:
            raise OrderNotFoundError(f"no live order with id {order_id!r}")
        # `_remove`, inlined: cancels are the other common command
        side = order.side
        book_side = self._bids if side is _BID else self._asks
        price = order.price
        key = price * book_side.sign
        level = book_side.levels[key]
        removed = order.remaining
        order.remaining = 0
        total = level.total = level.total - removed
        level.live -= 1
        queue = level.queue
        if not total:
            book_side.close_level(key, level)
        elif queue[0] is order:
            queue.popleft()
        elif len(queue) > 2 * level.live + _QUEUE_SLACK:
            level.compact()
        owner = order.owner
        order_id = order.order_id
        del orders[order_id]
        seq = self.seq = self.seq + 2
        return [
            OrderUpdate(seq - 1, order_id, owner, side, price, order.filled, 0, reason),
            LevelChange(seq, side, price, total, -removed, order_id, owner, reason),
        ]

    def decrease(
        self, order_id: OrderId, *, reduce_by: int | None = None, reduce_to: int | None = None
    ) -> list[Event]:
        """Reduce a live order's remaining count in place, keeping its time priority.

        Exactly one of `reduce_by` (> 0; more than remains cancels) or `reduce_to` (0 up to
        what remains) is given. Reducing to 0 takes the order off the book.

        Raises:
            InvalidOrderError: both or neither given, or a value out of range.
            OrderNotFoundError: no live order has this id.
        """
        if reduce_by is not None:
            if reduce_to is not None:
                raise InvalidOrderError("give only one of reduce_by and reduce_to")
            order = self._orders.get(order_id)  # `order`, inlined
            if order is None:
                raise OrderNotFoundError(f"no live order with id {order_id!r}")
            if reduce_by <= 0:
                raise InvalidOrderError(f"reduce_by must be > 0, was {reduce_by}")
            remaining = order.remaining
            target = remaining - reduce_by if reduce_by < remaining else 0
        elif reduce_to is not None:
            order = self.order(order_id)
            remaining = order.remaining
            if not 0 <= reduce_to <= remaining:
                raise InvalidOrderError(
                    f"reduce_to must be in 0..{remaining} (the remaining count), was {reduce_to}"
                )
            target = reduce_to
        else:
            raise InvalidOrderError("give one of reduce_by and reduce_to")
        events: list[Event] = []
        if target:
            self._shrink(order, remaining - target, Reason.DECREASE, events)
        else:
            self._remove(order, Reason.DECREASE, events, True)
        return events

    def amend(
        self,
        order_id: OrderId,
        *,
        price: int,
        count: int,
        expires_at: int | _Keep | None = KEEP,
    ) -> list[Event]:
        """Change a live order's price, count or expiry.

        `count` is the new total the order may fill, already filled part included (Kalshi's
        amend semantics), so the new remaining count is `count - filled`. Same price and a
        remaining count that does not grow keep time priority; anything else moves the order
        to the back of its new level, matching first like a new order if it crosses.

        Raises:
            InvalidOrderError: price out of range or `count` not above the filled count.
            OrderNotFoundError: no live order has this id.
        """
        order = self.order(order_id)
        if not 0 < price < MAX_PRICE:
            raise InvalidOrderError(f"price must be in 1..{MAX_PRICE - 1} ticks, was {price}")
        remaining = count - order.filled
        if remaining <= 0:
            raise InvalidOrderError(
                f"count must exceed the filled count {order.filled}, was {count}"
            )
        new_expiry = order.expires_at if expires_at is KEEP else expires_at
        events: list[Event] = []
        if price == order.price and remaining <= order.remaining:
            if new_expiry != order.expires_at:
                order.expires_at = new_expiry
                if new_expiry is not None:
                    self._schedule(order)
            self._shrink(order, order.remaining - remaining, _AMEND, events)
            return events
        self._remove(order, _AMEND, events, False)
        moved = Order(
            order.order_id,
            order.owner,
            order.side,
            price,
            remaining,
            order.filled,
            order.post_only,
            order.stp,
            new_expiry,
            0,
        )
        if moved.side is _BID:
            crosses = self._asks.best_key <= price
        else:
            crosses = self._bids.best_key <= -price
        if crosses:
            self._execute(moved, _GTC, False, _AMEND, events)
        else:  # what `_execute` does with an order that does not cross: it rests
            self._rest(moved, _AMEND, _AMEND, events)
        return events

    def cancel_owner(self, owner: Owner, reason: Reason = _NONE) -> list[Event]:
        """Cancel every live order of `owner` on this book, oldest arrival first.

        Runtime complexity: `O(n)` in the live orders (`orders_of`), then `O(1)` per cancel.
        """
        events: list[Event] = []
        for order in self.orders_of(owner):
            self._remove(order, reason, events, True)
        return events

    def expire(self, now: int) -> list[Event]:
        """Cancel with `ExpiryCancel` every live order whose `expires_at <= now`.

        Orders go in expiry order, ties by arrival.
        """
        events: list[Event] = []
        heap = self._expiries
        while heap and heap[0][0] <= now:
            expires_at, _, _, order = heapq.heappop(heap)
            if self._expiry_is_current(expires_at, order):
                self._remove(order, Reason.EXPIRY_CANCEL, events, True)
        return events

    # Internals.

    def _execute(
        self,
        order: Order,
        tif: TimeInForce,
        capped: bool,
        reason: Reason,
        events: list[Event],
    ) -> None:
        # The incoming part of `place` and of a repricing `amend`: checks, matching, resting.
        # `reason` tags the order's update and its new level when nothing else applies.
        filled_before = order.filled
        if order.remaining:
            if order.side is _BID:
                opposite, limit = self._asks, order.price
            else:
                opposite, limit = self._bids, -order.price
            crosses = opposite.best_key <= limit
            if crosses and order.post_only:
                self._finish(order, Reason.POST_ONLY_CROSS_CANCEL, events)
                return
            if tif is _FOK and not (crosses and self._fillable(order, opposite, limit)):
                self._finish(order, Reason.REDUCE_ONLY_CANCEL if capped else reason, events)
                return
            if crosses and self._match(order, opposite, limit, events):
                self._finish(order, Reason.SELF_TRADE_CANCEL, events)
                return
        if capped:
            update_reason = Reason.REDUCE_ONLY_CANCEL
        elif order.filled != filled_before:
            update_reason = _TRADE
        else:
            update_reason = reason
        if order.remaining and tif is _GTC:
            self._rest(order, update_reason, reason, events)
        else:
            self._finish(order, update_reason, events)

    def _finish(self, order: Order, reason: Reason, events: list[Event]) -> None:
        # The incoming order ends without resting: whatever it did not fill is cancelled.
        order.remaining = 0
        seq = self.seq = self.seq + 1
        events.append(
            OrderUpdate(
                seq, order.order_id, order.owner, order.side, order.price, order.filled, 0, reason
            )
        )

    def _rest(
        self, order: Order, update_reason: Reason, level_reason: Reason, events: list[Event]
    ) -> None:
        # `place` inlines this for a new order that does not cross: change both alike
        side = self._bids if order.side is _BID else self._asks
        key = order.price * side.sign
        level = side.levels.get(key)
        if level is None or not level.total:
            level = side.open_level(key, order.price)
        order.arrival = self._arrivals = self._arrivals + 1
        level.queue.append(order)
        remaining = order.remaining
        total = level.total = level.total + remaining
        level.live += 1
        order_id = order.order_id
        owner = order.owner
        self._orders[order_id] = order
        if order.expires_at is not None:
            self._schedule(order)
        seq = self.seq
        events.append(
            OrderUpdate(
                seq + 1,
                order_id,
                owner,
                order.side,
                order.price,
                order.filled,
                remaining,
                update_reason,
            )
        )
        events.append(
            LevelChange(
                seq + 2, order.side, order.price, total, remaining, order_id, owner, level_reason
            )
        )
        self.seq = seq + 2

    def _remove(self, order: Order, reason: Reason, events: list[Event], update: bool) -> None:
        # Take a live order off the book; `update=False` leaves its update to the caller.
        # `cancel` inlines this: change both alike.
        side = self._bids if order.side is _BID else self._asks
        key = order.price * side.sign
        level = side.levels[key]
        removed = order.remaining
        order.remaining = 0
        level.total -= removed
        level.live -= 1
        if not level.total:
            side.close_level(key, level)
        elif level.queue[0] is order:
            level.queue.popleft()
        elif len(level.queue) > 2 * level.live + _QUEUE_SLACK:
            level.compact()
        order_id = order.order_id
        owner = order.owner
        del self._orders[order_id]
        seq = self.seq
        if update:
            seq += 1
            events.append(
                OrderUpdate(seq, order_id, owner, order.side, order.price, order.filled, 0, reason)
            )
        seq += 1
        events.append(
            LevelChange(
                seq, order.side, order.price, level.total, -removed, order_id, owner, reason
            )
        )
        self.seq = seq

    def _shrink(self, order: Order, by: int, reason: Reason, events: list[Event]) -> None:
        # Reduce a live order in place (by >= 0, below its remaining count): priority stays.
        order.remaining -= by
        seq = self.seq + 1
        events.append(
            OrderUpdate(
                seq,
                order.order_id,
                order.owner,
                order.side,
                order.price,
                order.filled,
                order.remaining,
                reason,
            )
        )
        if by:
            side = self._bids if order.side is _BID else self._asks
            level = side.levels[order.price * side.sign]
            level.total -= by
            seq += 1
            events.append(
                LevelChange(
                    seq,
                    order.side,
                    order.price,
                    level.total,
                    -by,
                    order.order_id,
                    order.owner,
                    reason,
                )
            )
        self.seq = seq

    def _fillable(self, taker: Order, opposite: BookSide, limit: int) -> bool:
        # Whether matching would fill `taker` completely; reads, never changes, the book.
        # Walks the makers one by one (the owner's own orders among them stop or are skipped
        # as matching would): fill-or-kill orders are rare, and the walk is bounded by the
        # makers that matching would take.
        need = taker.remaining
        owner = taker.owner
        skip_own = taker.stp is _MAKER
        levels = opposite.levels
        for key in opposite.keys:
            if key > limit:
                return False
            for maker in levels[key].queue:
                if not maker.remaining:
                    continue
                if maker.owner == owner:
                    if skip_own:
                        continue
                    return False
                need -= maker.remaining
                if need <= 0:
                    return True
        return False

    def _match(self, taker: Order, opposite: BookSide, limit: int, events: list[Event]) -> bool:
        # Trade `taker` against the opposite side while it crosses. Returns True when
        # self-trade prevention stops it (the caller then cancels the remainder).
        levels = opposite.levels
        orders = self._orders
        append = events.append
        maker_side = opposite.side
        taker_side = taker.side
        taker_id = taker.order_id
        owner = taker.owner
        remaining = taker.remaining
        filled = taker.filled
        seq = self.seq
        stopped = False
        while remaining:
            key = opposite.best_key
            if key > limit:
                break
            level = levels[key]
            price = level.price
            queue = level.queue
            while True:  # down the queue of the best level, until it or the taker is done
                maker = queue[0]
                maker_left = maker.remaining
                if not maker_left:
                    queue.popleft()
                    continue
                maker_id = maker.order_id
                maker_owner = maker.owner
                if maker_owner == owner:
                    if taker.stp is not _MAKER:
                        stopped = True
                        break
                    self.seq = seq
                    self._remove(maker, Reason.SELF_TRADE_CANCEL, events, True)
                    seq = self.seq
                    if not level.total:
                        break
                    continue
                if remaining < maker_left:
                    count = remaining
                    maker_left -= remaining
                    remaining = 0
                else:
                    count = maker_left
                    remaining -= maker_left
                    maker_left = 0
                filled += count
                maker.remaining = maker_left
                maker_filled = maker.filled = maker.filled + count
                total = level.total = level.total - count
                append(
                    Fill(seq + 1, price, count, taker_side, maker_id, maker_owner, taker_id, owner)
                )
                append(
                    OrderUpdate(
                        seq + 2,
                        maker_id,
                        maker_owner,
                        maker_side,
                        price,
                        maker_filled,
                        maker_left,
                        _TRADE,
                    )
                )
                append(
                    LevelChange(
                        seq + 3, maker_side, price, total, -count, maker_id, maker_owner, _TRADE
                    )
                )
                seq += 3
                if maker_left:
                    break  # the taker is done
                queue.popleft()
                level.live -= 1
                del orders[maker_id]
                if not total:
                    # The level is done; purging waits until the sweep is over.
                    level.queue.clear()
                    opposite.empty += 1
                    opposite.best_key = opposite.next_occupied(key)
                    break
                if not remaining:
                    break
            if stopped:
                break
        opposite.purge_if_due()
        self.seq = seq
        taker.remaining = remaining
        taker.filled = filled
        return stopped

    def _schedule(self, order: Order) -> None:
        expires_at = order.expires_at
        assert expires_at is not None
        heap = self._expiries
        self._pushes += 1
        heapq.heappush(heap, (expires_at, order.arrival, self._pushes, order))
        if len(heap) > 2 * len(self._orders) + _HEAP_SLACK:
            live = [entry for entry in heap if self._expiry_is_current(entry[0], entry[3])]
            heapq.heapify(live)
            self._expiries = live

    def _expiry_is_current(self, expires_at: int, order: Order) -> bool:
        return (
            bool(order.remaining)
            and order.expires_at == expires_at
            and (self._orders.get(order.order_id) is order)
        )
