"""Seeded multi-market order workload for the exchange benchmark, drawn by simulating bare books.

One bare `matching.OrderBook` per market is driven while drawing, so every cancel and
decrease names an order that is live at that moment and every crossing add is sized from the
depth it will meet. The mix follows the matching benchmark (`matching_workload`): nominally
50 % resting adds (60 % of them within a few ticks of the touch), 10 % crossing adds (half IOC,
half GTC, through 1-4 levels), 30 % cancels and 10 % in-place decreases, with the rest/cancel
shares tilted to hold each book near its prefilled size. Each op goes to a market drawn
uniformly and an owner drawn uniformly from `users`.

Ops are plain tuples, turned into engine calls before any timing by the benchmark:

    (REST | CROSS, market, order_id, owner, side, price, count, tif)
    (CANCEL, market, order_id, owner)
    (DECREASE, market, order_id, owner, reduce_by)

`order_id` is a small int unique over the whole workload (prefill included): the bare book
uses it as the order id, the exchange replay as the slot where it keeps the exchange's own id,
and both derive the client order id `c<order_id>` from it (so client ids are unique among a
user's live orders). Sides are 0 bid / 1 ask, tifs 0 GTC / 1 IOC; counts are whole contracts
in 1/100 units; prices ticks.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

# the op kinds, sides and time-in-force codes of the matching benchmark's workload
from benchmarks.matching_workload import (
    ASK,
    BID,
    CANCEL,
    CROSS,
    DECREASE,
    GTC,
    IOC,
    KIND_NAMES,
    NOMINAL_MIX,
    REST,
    SIDES,
    TIFS,
    LiveIds,
)
from matching import Fill, OrderBook

LOT = 100  # 1 contract in 1/100 units
MAX_CONTRACTS = 50
NEAR_SHARE = 0.6
NEAR_MEAN_TICKS = 2.0
TILT_GAIN = 2.0
TILT_MAX = 0.2

Op = tuple[int, ...]


@dataclass
class ExchangeWorkload:
    """The prefill and timed ops, with what the generating bare books saw."""

    seed: int
    mids: list[int]
    users: int
    levels_per_side: int
    prefill: list[Op] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    n_ids: int = 0
    mix: dict[str, int] = field(default_factory=dict)
    fills: list[int] = field(default_factory=list)  # per market, during ops
    final_resting: list[int] = field(default_factory=list)  # per market, after ops
    prefill_resting: list[int] = field(default_factory=list)
    size_min: int = 0
    size_max: int = 0


def generate(
    seed: int,
    ops: int,
    mids: list[int],
    *,
    users: int = 200,
    levels_per_side: int = 50,
    max_orders_per_level: int = 3,
) -> ExchangeWorkload:
    """Draw the workload: same arguments, same ops, on any machine."""
    rng = random.Random(seed)
    books = [OrderBook() for _ in mids]
    lives = [LiveIds() for _ in mids]
    out = ExchangeWorkload(seed, list(mids), users, levels_per_side)
    next_id = 0

    def new_id() -> int:
        nonlocal next_id
        next_id += 1
        return next_id - 1

    def count() -> int:
        return rng.randint(1, MAX_CONTRACTS) * LOT

    # Prefill: levels 1..L ticks off each mid, 1..max orders a level (1..2 at the top three).
    for m, mid in enumerate(mids):
        slots: list[tuple[int, int]] = []
        for side in (BID, ASK):
            for level in range(levels_per_side):
                price = mid - 1 - level if side == BID else mid + 1 + level
                top = 2 if level < 3 else max_orders_per_level
                slots.extend((side, price) for _ in range(rng.randint(1, top)))
        rng.shuffle(slots)
        for side, price in slots:
            order_id, owner = new_id(), rng.randrange(users)
            books[m].place(order_id, owner, SIDES[side], price, c := count(), TIFS[GTC])
            lives[m].add(order_id)
            out.prefill.append((REST, m, order_id, owner, side, price, c, GTC))
    targets = [len(b) for b in books]
    out.prefill_resting = list(targets)

    mix = dict.fromkeys(KIND_NAMES, 0)
    fills = [0] * len(mids)
    total = sum(targets)
    size_min = size_max = total
    p_cross, p_decrease = NOMINAL_MIX[CROSS], NOMINAL_MIX[DECREASE]
    for _ in range(ops):
        m = rng.randrange(len(mids))
        book, live, target = books[m], lives[m], targets[m]
        shift = max(-TILT_MAX, min(TILT_MAX, TILT_GAIN * (len(book) - target) / target))
        p_rest = NOMINAL_MIX[REST] - shift
        roll = rng.random()
        owner = rng.randrange(users)
        op: Op | None = None
        if p_rest <= roll < p_rest + p_cross:
            op = _cross(rng, book, m, owner, new_id)
        elif p_rest + p_cross <= roll < 1.0 - p_decrease:
            victim = live.draw(rng, book)
            if victim is not None:
                op = (CANCEL, m, victim, _owner(book, victim))
        elif roll >= 1.0 - p_decrease:
            op = _decrease(rng, book, live, m)
        if op is None:  # a rest, or nothing to cross, cancel or decrease: rest instead
            op = _rest(rng, book, m, owner, new_id(), count(), levels_per_side, mids[m])

        kind = op[0]
        if kind in (REST, CROSS):
            events = book.place(op[2], op[3], SIDES[op[4]], op[5], op[6], TIFS[op[7]])
            if kind == CROSS:
                fills[m] += sum(1 for e in events if type(e) is Fill)
            if op[2] in book:
                live.add(op[2])
        elif kind == CANCEL:
            book.cancel(op[2])
        else:
            book.decrease(op[2], reduce_by=op[4])
        out.ops.append(op)
        mix[KIND_NAMES[kind]] += 1
        size = sum(len(b) for b in books)
        size_min = min(size_min, size)
        size_max = max(size_max, size)

    out.n_ids = next_id
    out.mix = mix
    out.fills = fills
    out.final_resting = [len(b) for b in books]
    out.size_min, out.size_max = size_min, size_max
    return out


def _owner(book: OrderBook, order_id: int) -> int:
    owner = book.order(order_id).owner
    assert isinstance(owner, int)
    return owner


def _rest(
    rng: random.Random,
    book: OrderBook,
    m: int,
    owner: int,
    order_id: int,
    count: int,
    levels: int,
    mid: int,
) -> Op:
    # `distance` ticks behind the tightest non-crossing price (one tick inside the other touch)
    side = rng.randrange(2)
    if rng.random() < NEAR_SHARE:
        distance = min(int(rng.expovariate(1.0 / NEAR_MEAN_TICKS)), levels - 1)
    else:
        distance = rng.randrange(levels)
    bid, ask = book.best_bid(), book.best_ask()
    if side == BID:
        top = ask[0] - 1 if ask else (bid[0] if bid else mid - 1)
        price = max(1, top - distance)
    else:
        top = bid[0] + 1 if bid else (ask[0] if ask else mid + 1)
        price = top + distance
    return (REST, m, order_id, owner, side, price, count, GTC)


def _cross(
    rng: random.Random, book: OrderBook, m: int, owner: int, new_id: Callable[[], int]
) -> Op | None:
    side = rng.randrange(2)
    depth = book.depth(levels=rng.randint(1, 4))
    levels = depth.asks if side == BID else depth.bids
    if not levels:
        return None
    total = sum(c for _, c in levels)
    count = max(LOT, round(total * rng.uniform(0.5, 1.2) / LOT) * LOT)
    tif = IOC if rng.random() < 0.5 else GTC
    return (CROSS, m, new_id(), owner, side, levels[-1][0], count, tif)


def _decrease(rng: random.Random, book: OrderBook, live: LiveIds, m: int) -> Op | None:
    for _ in range(8):
        order_id = live.draw(rng, book)
        if order_id is None:
            return None
        lots = book.order(order_id).remaining // LOT
        if lots >= 2:
            return (DECREASE, m, order_id, _owner(book, order_id), rng.randrange(1, lots) * LOT)
    return None
