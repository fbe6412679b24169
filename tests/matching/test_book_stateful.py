"""Stateful property test: `matching.OrderBook` against the naive `RefBook`, step by step.

Hypothesis drives both books with the same random commands (place, cancel, decrease, amend,
cancel_owner, expire, depth; invalid calls included) and after every step checks that:

- both return exactly the same events (types, fields, order, `seq`) or the same error;
- both books look the same through every query (`orders`, `depth`, `levels`, `best_bid`,
  `best_ask`, `best_prices`, `len`, `orders_of`, `next_expiry`, `seq`, membership), and
  arrival orders agree;
- `OrderBook.check_invariants()` passes;
- quantity is conserved per order, from the events alone (see `Ledger`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from matching import (
    KEEP,
    DuplicateOrderError,
    Event,
    Fill,
    InvalidOrderError,
    LevelChange,
    MatchingError,
    OrderBook,
    OrderNotFoundError,
    OrderUpdate,
    Reason,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tests.matching.reference_book import RefBook, RefOrder

GTC = TimeInForce.GOOD_TILL_CANCELED
IOC = TimeInForce.IMMEDIATE_OR_CANCEL
FOK = TimeInForce.FILL_OR_KILL

OWNERS = ("u1", "u2", "u3")
SIDES = st.sampled_from([Side.BID, Side.ASK])
PRICES = st.integers(100, 107)  # eight adjacent ticks: plenty of crossing and queueing
BAD_PRICES = st.sampled_from([0, -1, 2**62, 2**62 + 1])
COUNTS = st.one_of(
    st.integers(1, 5).map(lambda n: n * 100),
    st.sampled_from([1, 3, 7, 50, 150, 250]),
)
TIFS = st.sampled_from([GTC, GTC, IOC, FOK])
POST_ONLY = st.sampled_from([False, False, False, True])
STPS = st.sampled_from([SelfTradePrevention.TAKER_AT_CROSS, SelfTradePrevention.MAKER])
EXPIRY_OFFSETS = st.one_of(st.none(), st.none(), st.integers(-1, 12))  # relative to `now`
CANCEL_REASONS = st.sampled_from([Reason.NONE, Reason.MARGIN_CANCEL])
UNKNOWN = st.sampled_from([False, False, False, False, True])  # try an id that is not live

Outcome = list[Event] | MatchingError


@dataclass
class Ledger:
    """What one order (one life of an order id) has done, from the test's side and events.

    `submitted` is what the test asked for (the count at placement, the new total after an
    amend); `filled` sums the order's `Fill` events; `remaining` is the last `OrderUpdate`'s;
    `booked` sums the order's `LevelChange` deltas; `cancelled` is what left unfilled:
    non-trade, non-amend negative `LevelChange` deltas while resting, plus what did not rest
    when the order entered (reduce-only trim, post-only, fill-or-kill, IOC, STP).
    Conservation: `submitted == filled + remaining + cancelled` and `booked == remaining`.
    """

    order_id: int
    submitted: int
    filled: int = 0
    remaining: int = 0
    booked: int = 0
    cancelled: int = 0

    def check(self) -> None:
        where = f"order {self.order_id}: {self}"
        assert self.remaining >= 0, where
        assert self.cancelled >= 0, where
        assert self.booked == self.remaining, f"level deltas disagree with updates, {where}"
        total = self.filled + self.remaining + self.cancelled
        assert self.submitted == total, f"quantity not conserved, {where}"


class _OrderLike(Protocol):
    """What an engine `Order` and a model `RefOrder` have in common."""

    order_id: Hashable
    owner: Hashable
    side: Side
    price: int
    remaining: int
    filled: int
    post_only: bool
    stp: SelfTradePrevention
    expires_at: int | None


def _order_key(o: _OrderLike) -> tuple[object, ...]:
    """The comparable state of an order, its arrival number aside."""
    return (
        o.order_id,
        o.owner,
        o.side,
        o.price,
        o.remaining,
        o.filled,
        o.post_only,
        o.stp,
        o.expires_at,
    )


def _ladder(orders: list[tuple[object, ...]], side: Side) -> list[tuple[int, list[object]]]:
    """(price, [(id, owner, remaining, filled), ...]) per level, in the given order."""
    out: list[tuple[int, list[object]]] = []
    for order_id, owner, order_side, price, remaining, filled, *_ in orders:
        if order_side is not side:
            continue
        assert isinstance(price, int)
        if not out or out[-1][0] != price:
            out.append((price, []))
        out[-1][1].append((order_id, owner, remaining, filled))
    return out


def _show(outcome: Outcome) -> str:
    if isinstance(outcome, MatchingError):
        return f"raised {type(outcome).__name__}({outcome})"
    return "\n".join(f"    {event!r}" for event in outcome) or "    (no events)"


class BookMachine(RuleBasedStateMachine):
    """The engine and the reference model, driven in lockstep."""

    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook()
        self.model = RefBook()
        self.now = 0
        self.next_id = 1
        self.ledgers: dict[Hashable, Ledger] = {}  # the current life of every id ever placed
        self.retired: list[Ledger] = []  # earlier lives of reused ids

    # ----- helpers -------------------------------------------------------------------------

    def live_ids(self) -> list[int]:
        ids = [o.order_id for o in self.model.live]
        return sorted(i for i in ids if isinstance(i, int))

    def dead_ids(self) -> list[int]:
        live = set(self.live_ids())
        return [i for i in range(1, self.next_id) if i not in live]

    def live(self, order_id: int) -> RefOrder:
        order = self.model.find(order_id)
        assert order is not None
        return order

    def new_id(self) -> int:
        order_id = self.next_id
        self.next_id += 1
        return order_id

    def both(
        self,
        what: str,
        engine: Callable[[], list[Event]],
        model: Callable[[], list[Event]],
        expect: type[MatchingError] | None = None,
    ) -> list[Event] | None:
        """Run one command on both books; they must agree. Returns the events, or None."""
        got: Outcome
        want: Outcome
        try:
            got = engine()
        except MatchingError as exc:
            got = exc
        try:
            want = model()
        except MatchingError as exc:
            want = exc
        message = f"{what}\n  engine:\n{_show(got)}\n  model:\n{_show(want)}"
        if isinstance(want, MatchingError):
            assert expect is None or type(want) is expect, f"test expected {expect}: {message}"
            assert type(got) is type(want), message
            return None
        assert expect is None, f"test expected {expect.__name__}: {message}"
        assert not isinstance(got, MatchingError), message
        assert got == want, message
        return got

    def account(
        self,
        events: list[Event],
        *,
        entering: int | None = None,
        entry: int = 0,
        capped_to: int | None = None,
        amending: bool = False,
    ) -> None:
        """Book the events into the ledgers; `entering` is the order being placed/amended."""
        taker_fills = 0
        entering_updates = 0
        for event in events:
            if isinstance(event, Fill):
                assert event.maker_owner != event.taker_owner, f"self trade: {event}"
                assert event.count > 0, event
                self.ledgers[event.maker_order_id].filled += event.count
                self.ledgers[event.taker_order_id].filled += event.count
                assert event.taker_order_id == entering, f"fill of a non-entering taker {event}"
                taker_fills += event.count
            elif isinstance(event, OrderUpdate):
                led = self.ledgers[event.order_id]
                assert event.filled == led.filled, f"update's filled != fills: {event}, {led}"
                led.remaining = event.remaining
                entering_updates += event.order_id == entering
            elif isinstance(event, LevelChange):
                led = self.ledgers[event.order_id]
                led.booked += event.delta
                assert event.delta != 0, event
                if event.reason is Reason.TRADE:
                    assert event.delta < 0, event
                elif event.reason is Reason.AMEND:
                    assert amending and event.order_id == entering, event
                elif event.delta < 0:
                    led.cancelled -= event.delta
            else:  # pragma: no cover
                raise AssertionError(f"unknown event {event!r}")
        if entering is None:
            return
        led = self.ledgers[entering]
        assert entering_updates == 1, f"order {entering}: {entering_updates} OrderUpdates"
        not_rested = entry - taker_fills - led.remaining
        assert not_rested >= 0, f"order {entering} rests more than it brought: {led}"
        if led.remaining > 0 and capped_to is not None:
            assert not_rested == entry - capped_to, f"reduce-only trim wrong: {led}"
        elif led.remaining > 0:
            assert not_rested == 0, f"order {entering} rests but lost some: {led}"
        led.cancelled += not_rested

    # ----- rules: placing ------------------------------------------------------------------

    def do_place(
        self,
        order_id: int,
        owner: str,
        side: Side,
        price: int,
        count: int,
        tif: TimeInForce = GTC,
        *,
        post_only: bool = False,
        stp: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS,
        expires_at: int | None = None,
        max_fill: int | None = None,
    ) -> None:
        """A valid placement on both books, then its bookkeeping."""
        what = (
            f"place({order_id}, {owner}, {side}, {price}, {count}, {tif}, post_only={post_only}"
            f", stp={stp}, expires_at={expires_at}, max_fill={max_fill})"
        )

        def run(book: OrderBook | RefBook) -> list[Event]:
            return book.place(
                order_id,
                owner,
                side,
                price,
                count,
                tif,
                post_only=post_only,
                stp=stp,
                expires_at=expires_at,
                max_fill=max_fill,
            )

        events = self.both(what, lambda: run(self.book), lambda: run(self.model))
        assert events is not None
        old = self.ledgers.get(order_id)
        if old is not None:
            self.retired.append(old)
        self.ledgers[order_id] = Ledger(order_id, submitted=count)
        capped = max_fill if max_fill is not None and max_fill < count else None
        self.account(events, entering=order_id, entry=count, capped_to=capped)

    def pick_id(self, data: st.DataObject, reuse: bool) -> int:
        """A fresh id, or (if `reuse`) sometimes one that is no longer live."""
        dead = self.dead_ids()
        if reuse and dead:
            return data.draw(st.sampled_from(dead), "reused id")
        return self.new_id()

    @initialize(
        seed=st.lists(st.tuples(st.sampled_from(OWNERS), SIDES, PRICES, COUNTS, STPS), max_size=10)
    )
    def seed_book(self, seed: list[tuple[str, Side, int, int, SelfTradePrevention]]) -> None:
        """Start from a book with some depth (crossing seeds trade with each other)."""
        for owner, side, price, count, stp in seed:
            self.do_place(self.new_id(), owner, side, price, count, stp=stp)

    @rule(
        data=st.data(),
        owner=st.sampled_from(OWNERS),
        side=SIDES,
        price=PRICES,
        count=COUNTS,
        tif=TIFS,
        post_only=POST_ONLY,
        stp=STPS,
        expiry=EXPIRY_OFFSETS,
        reuse=st.sampled_from([False, False, False, True]),
    )
    def place(
        self,
        data: st.DataObject,
        owner: str,
        side: Side,
        price: int,
        count: int,
        tif: TimeInForce,
        post_only: bool,
        stp: SelfTradePrevention,
        expiry: int | None,
        reuse: bool,
    ) -> None:
        """Anything valid: every flag, max_fill (0, below, at and above count) and expiry."""
        order_id = self.pick_id(data, reuse)
        max_fill = data.draw(
            st.one_of(
                st.none(),
                st.none(),
                st.none(),
                st.just(0),
                st.integers(0, count - 1),
                st.integers(count, count + 100),
            ),
            "max_fill",
        )
        self.do_place(
            order_id,
            owner,
            side,
            price,
            count,
            tif,
            post_only=post_only,
            stp=stp,
            expires_at=None if expiry is None else self.now + expiry,
            max_fill=max_fill,
        )

    @rule(
        data=st.data(),
        orders=st.lists(
            st.tuples(st.sampled_from(OWNERS), SIDES, PRICES, COUNTS, EXPIRY_OFFSETS),
            min_size=1,
            max_size=3,
        ),
        reuse=st.sampled_from([False, False, False, True]),
    )
    def place_makers(
        self,
        data: st.DataObject,
        orders: list[tuple[str, Side, int, int, int | None]],
        reuse: bool,
    ) -> None:
        """Plain good-till-cancelled orders (1 to 3) that do not cross (a crossing price is
        moved next to the opposite best): they build the queues to trade against, so that
        the book stays deep enough for priority to matter."""
        for owner, side, price, count, expiry in orders:
            if side is Side.BID:
                best_ask = self.model.best(Side.ASK)
                if best_ask is not None and price >= best_ask[0]:
                    price = best_ask[0] - 1
            else:
                best_bid = self.model.best(Side.BID)
                if best_bid is not None and price <= best_bid[0]:
                    price = best_bid[0] + 1
            if price <= 0:
                continue
            order_id = self.pick_id(data, reuse)
            expires_at = None if expiry is None else self.now + expiry
            self.do_place(order_id, owner, side, price, count, expires_at=expires_at)

    @rule(
        data=st.data(),
        owner=st.sampled_from(OWNERS),
        side=SIDES,
        depth=st.integers(0, 4),
        tif=st.sampled_from([GTC, IOC, FOK, FOK]),
        stp=STPS,
        self_cross=st.booleans(),
    )
    def place_taker(
        self,
        data: st.DataObject,
        owner: str,
        side: Side,
        depth: int,
        tif: TimeInForce,
        stp: SelfTradePrevention,
        self_cross: bool,
    ) -> None:
        """An order priced `depth` ticks through the opposite best (if any): it trades.

        With `self_cross` it belongs to the owner of some resting order it may reach, to
        exercise self-trade prevention (and the fill-or-kill check around it). Its count is
        often within what it can reach, so that fill-or-kill orders do not just die."""
        opposite = self.model.side_orders(Side.ASK if side is Side.BID else Side.BID)
        if self_cross and opposite:
            last = min(len(opposite), 4) - 1
            first = data.draw(st.one_of(st.just(0), st.integers(0, last)), "own maker")
            owner = str(opposite[first].owner)
        base = 103 if not opposite else opposite[0].price
        price = base + depth if side is Side.BID else max(base - depth, 1)
        reach = sum(
            o.remaining
            for o in opposite
            if (o.price <= price if side is Side.BID else o.price >= price)
        )
        sizes = st.one_of(COUNTS, st.integers(1, reach)) if reach else COUNTS
        count = data.draw(sizes, "count")
        self.do_place(self.new_id(), owner, side, price, count, tif, stp=stp)

    @rule(
        data=st.data(),
        side=SIDES,
        price=st.one_of(PRICES, BAD_PRICES),
        count=st.one_of(COUNTS, st.sampled_from([0, -1, -100])),
        max_fill=st.one_of(st.none(), st.integers(-3, 200)),
        live_id=st.booleans(),
    )
    def place_rejected(
        self,
        data: st.DataObject,
        side: Side,
        price: int,
        count: int,
        max_fill: int | None,
        live_id: bool,
    ) -> None:
        """Bad price/count/max_fill and duplicate ids: price and count beat the duplicate
        check, which beats max_fill."""
        bad_price_count = not 0 < price < 2**62 or count <= 0
        ids = self.live_ids()
        duplicate = live_id and bool(ids)
        if not duplicate and not bad_price_count and (max_fill is None or max_fill >= 0):
            max_fill = -1  # make sure something is wrong
        order_id = data.draw(st.sampled_from(ids), "live id") if duplicate else self.new_id()
        owner = data.draw(st.sampled_from(OWNERS), "owner")
        if bad_price_count:
            expect: type[MatchingError] = InvalidOrderError
        elif duplicate:
            expect = DuplicateOrderError
        else:
            expect = InvalidOrderError
        self.both(
            f"place({order_id}, {owner}, {side}, {price}, {count}, max_fill={max_fill})",
            lambda: self.book.place(order_id, owner, side, price, count, max_fill=max_fill),
            lambda: self.model.place(order_id, owner, side, price, count, max_fill=max_fill),
            expect=expect,
        )

    # ----- rules: cancelling ---------------------------------------------------------------

    def target(self, data: st.DataObject, unknown: bool) -> int | None:
        """A live id to act on, or None: then the rule tries an id that is not live."""
        live = self.live_ids()
        if unknown or not live:
            return None
        return data.draw(st.sampled_from(live), "live id")

    def not_live(self, data: st.DataObject) -> int:
        """An id that was never placed or is no longer live."""
        return data.draw(st.sampled_from([*self.dead_ids(), 10**9]), "not live id")

    @rule(data=st.data(), reason=CANCEL_REASONS, unknown=UNKNOWN)
    def cancel(self, data: st.DataObject, reason: Reason, unknown: bool) -> None:
        order_id = self.target(data, unknown)
        if order_id is None:
            dead = self.not_live(data)
            self.both(
                f"cancel({dead}, {reason!r})",
                lambda: self.book.cancel(dead, reason),
                lambda: self.model.cancel(dead, reason),
                expect=OrderNotFoundError,
            )
            return
        events = self.both(
            f"cancel({order_id}, {reason!r})",
            lambda: self.book.cancel(order_id, reason),
            lambda: self.model.cancel(order_id, reason),
        )
        assert events is not None
        self.account(events)

    @precondition(lambda self: len(self.model.live) >= 4)  # else it keeps the book empty
    @rule(owner=st.sampled_from([*OWNERS, "nobody"]), reason=CANCEL_REASONS)
    def cancel_owner(self, owner: str, reason: Reason) -> None:
        events = self.both(
            f"cancel_owner({owner}, {reason!r})",
            lambda: self.book.cancel_owner(owner, reason),
            lambda: self.model.cancel_owner(owner, reason),
        )
        assert events is not None
        self.account(events)

    @rule(step=st.integers(0, 4))
    def expire(self, step: int) -> None:
        self.now += step
        now = self.now
        events = self.both(
            f"expire({now})", lambda: self.book.expire(now), lambda: self.model.expire(now)
        )
        assert events is not None
        self.account(events)

    # ----- rules: decreasing ---------------------------------------------------------------

    @rule(
        data=st.data(),
        mode=st.sampled_from(["by", "by", "to", "to", "both", "neither"]),
        unknown=UNKNOWN,
    )
    def decrease(self, data: st.DataObject, mode: str, unknown: bool) -> None:
        order_id = self.target(data, unknown)
        if order_id is None:
            remaining = 100
            order_id = self.not_live(data)
        else:
            remaining = self.live(order_id).remaining
        by = data.draw(st.integers(-1, remaining + 50), "reduce_by") if mode != "to" else None
        to = data.draw(st.integers(-1, remaining + 1), "reduce_to") if mode != "by" else None
        if mode == "neither":
            by = to = None
        expect: type[MatchingError] | None = None
        if mode in ("both", "neither"):
            expect = InvalidOrderError  # checked before the id
        elif self.model.find(order_id) is None:
            expect = OrderNotFoundError  # checked before the values
        elif (by is not None and by <= 0) or (to is not None and not 0 <= to <= remaining):
            expect = InvalidOrderError
        events = self.both(
            f"decrease({order_id}, reduce_by={by}, reduce_to={to})",
            lambda: self.book.decrease(order_id, reduce_by=by, reduce_to=to),
            lambda: self.model.decrease(order_id, reduce_by=by, reduce_to=to),
            expect=expect,
        )
        if events is not None:
            self.account(events)

    # ----- rules: amending -----------------------------------------------------------------

    @rule(
        data=st.data(),
        expiry=st.sampled_from(["keep", "keep", "none", "offset"]),
        offset=st.integers(-1, 6),
        unknown=UNKNOWN,
    )
    def amend(self, data: st.DataObject, expiry: str, offset: int, unknown: bool) -> None:
        expires_at: Any = {"keep": KEEP, "none": None}.get(expiry, self.now + offset)
        order_id = self.target(data, unknown)
        if order_id is None:  # the id is checked before the price and count
            dead = self.not_live(data)
            price = data.draw(st.one_of(PRICES, BAD_PRICES), "price")
            count = data.draw(st.one_of(COUNTS, st.just(0)), "count")
            self.both(
                f"amend({dead}, price={price}, count={count}, expires_at={expires_at!r})",
                lambda: self.book.amend(dead, price=price, count=count, expires_at=expires_at),
                lambda: self.model.amend(dead, price=price, count=count, expires_at=expires_at),
                expect=OrderNotFoundError,
            )
            return
        order = self.live(order_id)
        filled, remaining = order.filled, order.remaining
        price = data.draw(
            st.one_of(st.just(order.price), st.just(order.price), PRICES, BAD_PRICES), "price"
        )
        count = data.draw(
            st.one_of(
                st.integers(filled + 1, filled + remaining),  # keeps priority at the same price
                st.integers(filled + 1, filled + remaining),
                st.integers(max(filled - 2, 0), filled + remaining + 300),  # incl. invalid
                COUNTS,
            ),
            "count",
        )
        expect: type[MatchingError] | None = None
        if not 0 < price < 2**62 or count - filled <= 0:
            expect = InvalidOrderError
        events = self.both(
            f"amend({order_id}, price={price}, count={count}, expires_at={expires_at!r})",
            lambda: self.book.amend(order_id, price=price, count=count, expires_at=expires_at),
            lambda: self.model.amend(order_id, price=price, count=count, expires_at=expires_at),
            expect=expect,
        )
        if events is None:
            return
        led = self.ledgers[order_id]
        led.submitted = count  # the amended total; earlier cancels no longer count
        led.cancelled = 0
        self.account(events, entering=order_id, entry=count - led.filled, amending=True)

    # ----- rules: market data --------------------------------------------------------------

    @rule(
        levels=st.one_of(st.integers(0, 3), st.just(-1)),
        tick=st.one_of(st.sampled_from([1, 2, 3, 5]), st.sampled_from([0, -1])),
    )
    def depth(self, levels: int, tick: int) -> None:
        want: object
        got: object
        try:
            bids, asks = self.model.depth(levels, tick)
            want = (bids, asks)
        except InvalidOrderError as exc:
            want = type(exc)
        try:
            snapshot = self.book.depth(levels, tick)
            got = (snapshot.bids, snapshot.asks)
        except MatchingError as exc:
            got = type(exc)
        assert got == want, f"depth({levels}, {tick}): engine {got}, model {want}"

    @rule(side=st.sampled_from(Side), take=st.integers(0, 4))
    def levels(self, side: Side, take: int) -> None:
        bids, asks = self.model.depth(0, 1)
        want = bids if side is Side.BID else asks
        assert list(self.book.levels(side)) == want, f"levels({side})"
        # read lazily: the first few are the first few of the whole list
        assert list(itertools.islice(self.book.levels(side), take)) == want[:take]

    # ----- invariants ----------------------------------------------------------------------

    @invariant()
    def same_book(self) -> None:
        book, model = self.book, self.model
        self.book.check_invariants()
        assert book.seq == model.seq, (book.seq, model.seq)
        assert len(book) == len(model), (len(book), len(model))

        engine_orders = book.orders()
        got = [_order_key(o) for o in engine_orders]
        want = [_order_key(o) for o in model.orders()]
        for side in (Side.BID, Side.ASK):
            assert _ladder(got, side) == _ladder(want, side), (
                f"{side} side differs:\n  engine {_ladder(got, side)}\n"
                f"  model  {_ladder(want, side)}"
            )
        assert got == want

        depth = book.depth()
        assert depth.bids == model.levels(Side.BID)
        assert depth.asks == model.levels(Side.ASK)
        assert book.best_bid() == model.best(Side.BID)
        assert book.best_ask() == model.best(Side.ASK)
        bid, ask = model.best(Side.BID), model.best(Side.ASK)
        assert book.best_prices() == (bid and bid[0], ask and ask[0])
        assert book.next_expiry() == model.next_expiry()

        # Arrival: the engine's numbers may differ, their order may not.
        engine_arrival = sorted(engine_orders, key=lambda o: o.arrival)
        assert len({o.arrival for o in engine_orders}) == len(engine_orders), "arrival reused"
        model_arrival = sorted(model.live, key=lambda o: o.arrival)
        assert [o.order_id for o in engine_arrival] == [o.order_id for o in model_arrival], (
            "arrival order differs"
        )
        for owner in (*OWNERS, "nobody"):
            mine = [_order_key(o) for o in book.orders_of(owner)]
            assert mine == [_order_key(o) for o in model.orders_of(owner)], owner
        for order_id in range(1, self.next_id):
            assert (order_id in book) == (model.find(order_id) is not None), order_id

    @invariant()
    def quantity_conserved(self) -> None:
        live = {o.order_id: o for o in self.book.orders()}
        for led in [*self.retired, *self.ledgers.values()]:
            led.check()
        for order_id, led in self.ledgers.items():
            order = live.get(order_id)
            if order is None:
                assert led.remaining == 0, f"order {order_id} is gone but {led}"
            else:
                assert (order.remaining, order.filled) == (led.remaining, led.filled), led
        for led in self.retired:
            assert led.remaining == 0, led


# The explain phase (which marks draws "or any other generated value") costs minutes on a
# failing run of a long state machine, for little benefit: the shrunk steps are printed anyway.
BookMachine.TestCase.settings = settings(
    max_examples=max(250, settings().max_examples),
    stateful_step_count=100,
    deadline=None,
    phases=[p for p in Phase if p is not Phase.explain],
)
TestBookStateMachine = BookMachine.TestCase
