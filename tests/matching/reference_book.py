"""A naive reference order book: the engine's contract, written as plainly as possible.

Independent of `matching.book` on purpose: it is written from the rules only, so a property
test that runs both side by side can catch a bug in either. Plain lists and linear scans
everywhere; every query re-sorts. Clarity over speed. It emits the engine's event types
(`Fill`, `OrderUpdate`, `LevelChange`), numbered with its own `seq` counter.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from matching import (
    KEEP,
    DuplicateOrderError,
    Event,
    Fill,
    InvalidOrderError,
    LevelChange,
    OrderNotFoundError,
    OrderUpdate,
    Reason,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

MAX_PRICE = 2**62  # prices must be strictly below this


@dataclass
class RefOrder:
    """One live order of the model."""

    order_id: Hashable
    owner: Hashable
    side: Side
    price: int
    remaining: int
    filled: int
    post_only: bool
    stp: SelfTradePrevention
    expires_at: int | None
    arrival: int


def _other(side: Side) -> Side:
    return Side.ASK if side is Side.BID else Side.BID


def _reaches(maker_price: int, taker_side: Side, limit: int) -> bool:
    """Whether a resting price on the opposite side is marketable for this limit."""
    if taker_side is Side.BID:
        return maker_price <= limit
    return maker_price >= limit


def _priority_key(order: RefOrder) -> tuple[int, int]:
    """Best first: bids by price descending, asks ascending, then arrival."""
    if order.side is Side.BID:
        return (-order.price, order.arrival)
    return (order.price, order.arrival)


def _check_price(price: int) -> None:
    if price <= 0 or price >= MAX_PRICE:
        raise InvalidOrderError(f"bad price {price}")


class RefBook:
    """The reference model of one order book (see the module docstring)."""

    def __init__(self) -> None:
        self.live: list[RefOrder] = []  # every live order, in no particular order
        self.seq = 0  # last event number emitted
        self.arrivals = 0  # last arrival number given out

    # ----- queries -------------------------------------------------------------------------

    def side_orders(self, side: Side) -> list[RefOrder]:
        """The live orders of one side in priority order, best first."""
        return sorted((o for o in self.live if o.side is side), key=_priority_key)

    def orders(self) -> list[RefOrder]:
        """Bids best first, then asks best first, oldest first per level."""
        return self.side_orders(Side.BID) + self.side_orders(Side.ASK)

    def find(self, order_id: Hashable) -> RefOrder | None:
        for order in self.live:
            if order.order_id == order_id:
                return order
        return None

    def orders_of(self, owner: Hashable) -> list[RefOrder]:
        mine = [o for o in self.live if o.owner == owner]
        return sorted(mine, key=lambda o: o.arrival)

    def level_total(self, side: Side, price: int) -> int:
        return sum(o.remaining for o in self.live if o.side is side and o.price == price)

    def levels(self, side: Side) -> list[tuple[int, int]]:
        """(price, aggregate count) per level, best first."""
        out: list[tuple[int, int]] = []
        for order in self.side_orders(side):
            if out and out[-1][0] == order.price:
                out[-1] = (order.price, out[-1][1] + order.remaining)
            else:
                out.append((order.price, order.remaining))
        return out

    def best(self, side: Side) -> tuple[int, int] | None:
        levels = self.levels(side)
        return levels[0] if levels else None

    def depth(self, levels: int = 0, tick: int = 1) -> tuple[list[tuple[int, int]], ...]:
        """(bids, asks) bucketed to `tick`, at most `levels` buckets each (0 = all)."""
        if levels < 0 or tick <= 0:
            raise InvalidOrderError("bad depth parameters")
        result: list[list[tuple[int, int]]] = []
        for side in (Side.BID, Side.ASK):
            buckets: list[tuple[int, int]] = []
            for price, count in self.levels(side):
                if side is Side.BID:
                    bucket = (price // tick) * tick
                else:
                    bucket = ((price + tick - 1) // tick) * tick
                if buckets and buckets[-1][0] == bucket:
                    buckets[-1] = (bucket, buckets[-1][1] + count)
                else:
                    buckets.append((bucket, count))
            if levels:
                buckets = buckets[:levels]
            result.append(buckets)
        return (result[0], result[1])

    def next_expiry(self) -> int | None:
        times = [o.expires_at for o in self.live if o.expires_at is not None]
        return min(times) if times else None

    def __len__(self) -> int:
        return len(self.live)

    # ----- event helpers -------------------------------------------------------------------

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _update(
        self,
        events: list[Event],
        order_id: Hashable,
        owner: Hashable,
        side: Side,
        price: int,
        filled: int,
        remaining: int,
        reason: Reason,
    ) -> None:
        events.append(
            OrderUpdate(self._next_seq(), order_id, owner, side, price, filled, remaining, reason)
        )

    def _level(
        self,
        events: list[Event],
        side: Side,
        price: int,
        delta: int,
        order_id: Hashable,
        owner: Hashable,
        reason: Reason,
    ) -> None:
        """Emit a LevelChange; call it after the model's state already reflects the change."""
        total = self.level_total(side, price)
        events.append(
            LevelChange(self._next_seq(), side, price, total, delta, order_id, owner, reason)
        )

    def _take_off(self, order: RefOrder, reason: Reason, events: list[Event]) -> None:
        """Cancel a live order: OrderUpdate to 0, then the level shrinks by what remained."""
        gone = order.remaining
        self.live.remove(order)
        order.remaining = 0
        self._update(
            events, order.order_id, order.owner, order.side, order.price, order.filled, 0, reason
        )
        self._level(events, order.side, order.price, -gone, order.order_id, order.owner, reason)

    # ----- commands ------------------------------------------------------------------------

    def place(
        self,
        order_id: Hashable,
        owner: Hashable,
        side: Side,
        price: int,
        count: int,
        tif: TimeInForce = TimeInForce.GOOD_TILL_CANCELED,
        *,
        post_only: bool = False,
        stp: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS,
        expires_at: int | None = None,
        max_fill: int | None = None,
    ) -> list[Event]:
        _check_price(price)
        if count <= 0:
            raise InvalidOrderError(f"bad count {count}")
        if self.find(order_id) is not None:
            raise DuplicateOrderError(f"order {order_id!r} is live")
        if max_fill is not None and max_fill < 0:
            raise InvalidOrderError(f"bad max_fill {max_fill}")
        events: list[Event] = []
        capped = False
        if max_fill is not None and max_fill < count:
            count = max_fill
            capped = True
        if count == 0:
            self._update(events, order_id, owner, side, price, 0, 0, Reason.REDUCE_ONLY_CANCEL)
            return events
        self._enter(
            events,
            order_id,
            owner,
            side,
            price,
            remaining=count,
            filled=0,
            tif=tif,
            post_only=post_only,
            stp=stp,
            expires_at=expires_at,
            capped=capped,
            base=Reason.NONE,
        )
        return events

    def _can_fill(
        self, owner: Hashable, side: Side, limit: int, count: int, stp: SelfTradePrevention
    ) -> bool:
        """Fill-or-kill pre-check: walk the opposite side in priority order."""
        available = 0
        for maker in self.side_orders(_other(side)):
            if available >= count:
                break
            if not _reaches(maker.price, side, limit):
                break
            if maker.owner == owner:
                if stp is SelfTradePrevention.MAKER:
                    continue
                break  # taker_at_cross: the walk (and the fill) would stop here
            available += maker.remaining
        return available >= count

    def _enter(
        self,
        events: list[Event],
        order_id: Hashable,
        owner: Hashable,
        side: Side,
        price: int,
        *,
        remaining: int,
        filled: int,
        tif: TimeInForce,
        post_only: bool,
        stp: SelfTradePrevention,
        expires_at: int | None,
        capped: bool,
        base: Reason,
    ) -> None:
        """Rule 1 from the "crosses" step on: post-only, fill-or-kill, match, rest or drop."""
        opposite = _other(side)
        best = self.best(opposite)
        crosses = best is not None and _reaches(best[0], side, price)
        if crosses and post_only:
            self._update(
                events, order_id, owner, side, price, filled, 0, Reason.POST_ONLY_CROSS_CANCEL
            )
            return
        if tif is TimeInForce.FILL_OR_KILL and not self._can_fill(
            owner, side, price, remaining, stp
        ):
            reason = Reason.REDUCE_ONLY_CANCEL if capped else base
            self._update(events, order_id, owner, side, price, filled, 0, reason)
            return

        traded = 0
        while remaining > 0:
            makers = self.side_orders(opposite)
            if not makers or not _reaches(makers[0].price, side, price):
                break
            maker = makers[0]
            if maker.owner == owner:
                if stp is SelfTradePrevention.TAKER_AT_CROSS:
                    self._update(
                        events,
                        order_id,
                        owner,
                        side,
                        price,
                        filled,
                        0,
                        Reason.SELF_TRADE_CANCEL,
                    )
                    return
                self._take_off(maker, Reason.SELF_TRADE_CANCEL, events)
                continue
            q = min(remaining, maker.remaining)
            remaining -= q
            filled += q
            traded += q
            maker.remaining -= q
            maker.filled += q
            if maker.remaining == 0:
                self.live.remove(maker)
            events.append(
                Fill(
                    self._next_seq(),
                    maker.price,
                    q,
                    side,
                    maker.order_id,
                    maker.owner,
                    order_id,
                    owner,
                )
            )
            self._update(
                events,
                maker.order_id,
                maker.owner,
                maker.side,
                maker.price,
                maker.filled,
                maker.remaining,
                Reason.TRADE,
            )
            self._level(
                events, maker.side, maker.price, -q, maker.order_id, maker.owner, Reason.TRADE
            )

        if capped:
            update_reason = Reason.REDUCE_ONLY_CANCEL
        elif traded > 0:
            update_reason = Reason.TRADE
        else:
            update_reason = base
        if remaining > 0 and tif is TimeInForce.GOOD_TILL_CANCELED:
            self.arrivals += 1
            self.live.append(
                RefOrder(
                    order_id,
                    owner,
                    side,
                    price,
                    remaining,
                    filled,
                    post_only,
                    stp,
                    expires_at,
                    self.arrivals,
                )
            )
            self._update(events, order_id, owner, side, price, filled, remaining, update_reason)
            self._level(events, side, price, remaining, order_id, owner, base)
        else:
            self._update(events, order_id, owner, side, price, filled, 0, update_reason)

    def cancel(self, order_id: Hashable, reason: Reason = Reason.NONE) -> list[Event]:
        order = self.find(order_id)
        if order is None:
            raise OrderNotFoundError(f"no live order {order_id!r}")
        events: list[Event] = []
        self._take_off(order, reason, events)
        return events

    def decrease(
        self,
        order_id: Hashable,
        *,
        reduce_by: int | None = None,
        reduce_to: int | None = None,
    ) -> list[Event]:
        if (reduce_by is None) == (reduce_to is None):
            raise InvalidOrderError("give exactly one of reduce_by and reduce_to")
        order = self.find(order_id)
        if order is None:
            raise OrderNotFoundError(f"no live order {order_id!r}")
        if reduce_by is not None:
            if reduce_by <= 0:
                raise InvalidOrderError(f"bad reduce_by {reduce_by}")
            target = max(order.remaining - reduce_by, 0)
        else:
            assert reduce_to is not None
            if not 0 <= reduce_to <= order.remaining:
                raise InvalidOrderError(f"bad reduce_to {reduce_to}")
            target = reduce_to
        events: list[Event] = []
        if target == 0:
            self._take_off(order, Reason.DECREASE, events)
        else:
            self._shrink(order, target, Reason.DECREASE, events)
        return events

    def _shrink(self, order: RefOrder, target: int, reason: Reason, events: list[Event]) -> None:
        # In place, keeping the queue position: an update, then a level change if it shrank.
        gone = order.remaining - target
        order.remaining = target
        self._update(
            events,
            order.order_id,
            order.owner,
            order.side,
            order.price,
            order.filled,
            target,
            reason,
        )
        if gone > 0:
            self._level(
                events,
                order.side,
                order.price,
                -gone,
                order.order_id,
                order.owner,
                reason,
            )

    def amend(
        self,
        order_id: Hashable,
        *,
        price: int,
        count: int,
        expires_at: object = KEEP,
    ) -> list[Event]:
        order = self.find(order_id)
        if order is None:
            raise OrderNotFoundError(f"no live order {order_id!r}")
        _check_price(price)
        new_remaining = count - order.filled
        if new_remaining <= 0:
            raise InvalidOrderError(f"bad count {count}")
        if expires_at is KEEP:
            new_expiry = order.expires_at
        else:
            assert expires_at is None or isinstance(expires_at, int)
            new_expiry = expires_at
        events: list[Event] = []
        if price == order.price and new_remaining <= order.remaining:
            # Keeps its place in the queue (and its arrival number).
            order.expires_at = new_expiry
            self._shrink(order, new_remaining, Reason.AMEND, events)
            return events
        # Loses priority: leave the old level silently (LevelChange only), re-enter as GTC.
        old_remaining = order.remaining
        self.live.remove(order)
        self._level(
            events,
            order.side,
            order.price,
            -old_remaining,
            order.order_id,
            order.owner,
            Reason.AMEND,
        )
        self._enter(
            events,
            order.order_id,
            order.owner,
            order.side,
            price,
            remaining=new_remaining,
            filled=order.filled,
            tif=TimeInForce.GOOD_TILL_CANCELED,
            post_only=order.post_only,
            stp=order.stp,
            expires_at=new_expiry,
            capped=False,
            base=Reason.AMEND,
        )
        return events

    def cancel_owner(self, owner: Hashable, reason: Reason = Reason.NONE) -> list[Event]:
        events: list[Event] = []
        for order in self.orders_of(owner):
            self._take_off(order, reason, events)
        return events

    def expire(self, now: int) -> list[Event]:
        due = [o for o in self.live if o.expires_at is not None and o.expires_at <= now]
        due.sort(key=lambda o: (o.expires_at, o.arrival))
        events: list[Event] = []
        for order in due:
            self._take_off(order, Reason.EXPIRY_CANCEL, events)
        return events
