"""Seeded order-flow workload for the matching benchmark, recorded by simulating `OrderBook`.

The workload is generated once by driving a real `matching.OrderBook`, so every cancel and
decrease names an order that is live at that moment, and every crossing order is sized from
the levels it is about to cross. The ops are recorded as plain int tuples that any engine can
replay (the peer engine replays them from a JSON file, see `peer_matching.py`).

Two phases, each starting from an empty book:

- ``shallow``: prefill ~100 resting orders over ~25 price levels per side around a mid of
  100_000 ticks, 1-2 orders per level at the touch;
- ``deep``: prefill ~10_000 resting orders over ~2_000 levels per side.

Then the phase's ops, drawn with the nominal mix

=========  =====  ================================================================
kind       share  what
=========  =====  ================================================================
rest       50%    passive GTC add, off the tightest passive price by a distance
                  that is small in 60% of adds (exponential, mean 2 ticks, floored)
                  and otherwise uniform over the phase's depth; 1..50 contracts
cross      10%    limit 1..4 levels through the opposite touch, count = those
                  levels' total times a factor in [0.5, 1.2]; half IOC, half GTC
cancel     30%    a random live order
decrease   10%    a random live order reduced by a random part, leaving > 0
=========  =====  ================================================================

The shares of ``rest`` and ``cancel`` are tilted towards adds while the book holds fewer
orders than after its prefill and towards cancels while it holds more, which keeps the book's
size roughly stable (a crossing add takes several resting orders, so at equilibrium adds
outnumber cancels by more than the nominal mix says).

Encoding (one tuple per op; sides 0 = bid, 1 = ask; tifs 0 = GTC, 1 = IOC, 2 = FOK):

- ``(REST, order_id, owner, side, price, count, tif)`` and the same with ``CROSS``;
- ``(CANCEL, order_id, owner)``;
- ``(DECREASE, order_id, owner, reduce_by, side, price, remaining_after)``: the last three
  let an engine without an in-place decrease replace the order instead.

Prefill entries are ``REST`` tuples. Counts are in 1/100 contract (multiples of 100).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matching import Fill, OrderBook, OrderUpdate, Reason, Side, TimeInForce

REST = 0
CROSS = 1
CANCEL = 2
DECREASE = 3
KIND_NAMES = ("rest", "cross", "cancel", "decrease")
NOMINAL_MIX = (0.50, 0.10, 0.30, 0.10)

BID = 0
ASK = 1
GTC = 0
IOC = 1
FOK = 2

SIDES = (Side.BID, Side.ASK)
TIFS = (
    TimeInForce.GOOD_TILL_CANCELED,
    TimeInForce.IMMEDIATE_OR_CANCEL,
    TimeInForce.FILL_OR_KILL,
)

MID = 100_000
OWNERS = 50
LOT = 100  # 1 contract in the book's 1/100 units
MAX_CONTRACTS = 50
NEAR_SHARE = 0.6  # share of resting adds placed a small distance off the touch
NEAR_MEAN_TICKS = 2.0
TILT_GAIN = 2.0  # share moved between rest and cancel per unit of relative size error
TILT_MAX = 0.2

Op = tuple[int, ...]


@dataclass(frozen=True)
class PhaseSpec:
    """Shape of one phase: levels per side, orders per level and ops to draw."""

    name: str
    levels_per_side: int
    max_orders_per_level: int  # prefill draws 1..this per level (1..2 at the touch)
    ops: int


@dataclass
class Phase:
    """One phase's recorded prefill and ops, with what the simulation saw while drawing."""

    name: str
    levels_per_side: int
    prefill: list[Op]
    ops: list[Op]
    mix: dict[str, int]
    fills: int = 0  # fills the ops caused in the generating book
    crosses_stopped: int = 0  # crossing adds that met their own owner (self-trade stop)
    size_min: int = 0
    size_max: int = 0
    size_mean: float = 0.0
    final_size: int = 0
    final_levels: tuple[int, int] = (0, 0)
    prefill_levels: tuple[int, int] = (0, 0)


@dataclass
class Workload:
    """The whole workload: seed, owners and the phases in order."""

    seed: int
    owners: list[int]
    phases: list[Phase] = field(default_factory=list)

    @property
    def total_ops(self) -> int:
        return sum(len(p.ops) for p in self.phases)

    def mix(self) -> dict[str, int]:
        """Ops by kind over all phases."""
        out = dict.fromkeys(KIND_NAMES, 0)
        for phase in self.phases:
            for name, n in phase.mix.items():
                out[name] += n
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "phases": [{"name": p.name, "prefill": p.prefill, "ops": p.ops} for p in self.phases],
        }

    def write(self, path: Path) -> None:
        """Write the ops as compact JSON (lists of int lists) for another engine to replay."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)


def phase_specs(total_ops: int) -> list[PhaseSpec]:
    """The two phases, splitting `total_ops` in half (the deep phase takes an odd one)."""
    half = total_ops // 2
    return [
        PhaseSpec("shallow", levels_per_side=25, max_orders_per_level=3, ops=half),
        PhaseSpec("deep", levels_per_side=2_000, max_orders_per_level=4, ops=total_ops - half),
    ]


class LiveIds:
    """Ids that may be live, for drawing a random live order in O(1) (dead ones lazily)."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids: list[int] = []

    def add(self, order_id: int) -> None:
        self._ids.append(order_id)

    def draw(self, rng: random.Random, book: OrderBook) -> int | None:
        ids = self._ids
        while ids:
            i = rng.randrange(len(ids))
            order_id = ids[i]
            if order_id in book:
                return order_id
            ids[i] = ids[-1]
            ids.pop()
        return None


class _Generator:
    def __init__(self, rng: random.Random, owners: list[int], first_id: int) -> None:
        self.rng = rng
        self.owners = owners
        self.next_id = first_id

    def new_id(self) -> int:
        order_id = self.next_id
        self.next_id += 1
        return order_id

    def count(self) -> int:
        return self.rng.randint(1, MAX_CONTRACTS) * LOT

    def owner(self) -> int:
        return self.owners[self.rng.randrange(len(self.owners))]

    def phase(self, spec: PhaseSpec) -> Phase:
        rng = self.rng
        book = OrderBook()
        live = LiveIds()

        # Prefill: levels 0..L-1 ticks off the mid on each side, shuffled arrival order.
        slots: list[tuple[int, int]] = []
        for side in (BID, ASK):
            for level in range(spec.levels_per_side):
                price = MID - 1 - level if side == BID else MID + 1 + level
                top = 2 if level < 3 else spec.max_orders_per_level
                slots.extend((side, price) for _ in range(rng.randint(1, top)))
        rng.shuffle(slots)
        prefill: list[Op] = []
        for side, price in slots:
            order_id, owner, count = self.new_id(), self.owner(), self.count()
            book.place(order_id, owner, SIDES[side], price, count, TIFS[GTC])
            live.add(order_id)
            prefill.append((REST, order_id, owner, side, price, count, GTC))
        target = len(book)
        depth = book.depth()
        prefill_levels = (len(depth.bids), len(depth.asks))

        ops: list[Op] = []
        mix = dict.fromkeys(KIND_NAMES, 0)
        fills = stopped = 0
        size_min = size_max = target
        size_sum = 0
        p_cross, p_decrease = NOMINAL_MIX[CROSS], NOMINAL_MIX[DECREASE]
        for _ in range(spec.ops):
            size = len(book)
            shift = max(-TILT_MAX, min(TILT_MAX, TILT_GAIN * (size - target) / target))
            p_rest = NOMINAL_MIX[REST] - shift
            roll = rng.random()
            if roll < p_rest:
                kind = REST
            elif roll < p_rest + p_cross:
                kind = CROSS
            elif roll < 1.0 - p_decrease:
                kind = CANCEL
            else:
                kind = DECREASE

            op: Op | None = None
            if kind == CROSS:
                op = self._cross(book)
            elif kind == CANCEL:
                victim = live.draw(rng, book)
                if victim is not None:
                    op = (CANCEL, victim, _owner_of(book, victim))
                    book.cancel(victim)
            elif kind == DECREASE:
                op = self._decrease(book, live)
            if op is None:  # a cross, cancel or decrease with nothing to act on: rest instead
                op = self._rest(book, spec)
            kind = op[0]

            if kind in (REST, CROSS):
                events = book.place(op[1], op[2], SIDES[op[3]], op[4], op[5], TIFS[op[6]])
                if kind == CROSS:
                    n = sum(1 for e in events if type(e) is Fill)
                    fills += n
                    last = events[-1]
                    if isinstance(last, OrderUpdate) and last.reason is Reason.SELF_TRADE_CANCEL:
                        stopped += 1
                if op[1] in book:
                    live.add(op[1])
            elif kind == DECREASE:
                book.decrease(op[1], reduce_by=op[3])
            ops.append(op)
            mix[KIND_NAMES[kind]] += 1
            size = len(book)
            size_min = min(size_min, size)
            size_max = max(size_max, size)
            size_sum += size

        depth = book.depth()
        return Phase(
            name=spec.name,
            levels_per_side=spec.levels_per_side,
            prefill=prefill,
            ops=ops,
            mix=mix,
            fills=fills,
            crosses_stopped=stopped,
            size_min=size_min,
            size_max=size_max,
            size_mean=size_sum / max(1, len(ops)),
            final_size=len(book),
            final_levels=(len(depth.bids), len(depth.asks)),
            prefill_levels=prefill_levels,
        )

    def _rest(self, book: OrderBook, spec: PhaseSpec) -> Op:
        # Passive price: `distance` ticks below (bids) or above (asks) the tightest price that
        # does not cross, i.e. one tick inside the opposite touch.
        rng = self.rng
        side = rng.randrange(2)
        if rng.random() < NEAR_SHARE:
            distance = min(int(rng.expovariate(1.0 / NEAR_MEAN_TICKS)), spec.levels_per_side - 1)
        else:
            distance = rng.randrange(spec.levels_per_side)
        bid, ask = book.best_bid(), book.best_ask()
        if side == BID:
            top = ask[0] - 1 if ask else (bid[0] if bid else MID - 1)
            price = max(1, top - distance)
        else:
            top = bid[0] + 1 if bid else (ask[0] if ask else MID + 1)
            price = top + distance
        return (REST, self.new_id(), self.owner(), side, price, self.count(), GTC)

    def _cross(self, book: OrderBook) -> Op | None:
        rng = self.rng
        side = rng.randrange(2)
        through = rng.randint(1, 4)
        depth = book.depth(levels=through)
        levels = depth.asks if side == BID else depth.bids
        if not levels:
            return None
        total = sum(count for _, count in levels)
        count = max(LOT, round(total * rng.uniform(0.5, 1.2) / LOT) * LOT)
        tif = IOC if rng.random() < 0.5 else GTC
        return (CROSS, self.new_id(), self.owner(), side, levels[-1][0], count, tif)

    def _decrease(self, book: OrderBook, live: LiveIds) -> Op | None:
        for _ in range(8):
            order_id = live.draw(self.rng, book)
            if order_id is None:
                return None
            order = book.order(order_id)
            lots = order.remaining // LOT
            if lots >= 2:
                reduce_by = self.rng.randrange(1, lots) * LOT
                side = BID if order.side is Side.BID else ASK
                return (
                    DECREASE,
                    order_id,
                    _owner_of(book, order_id),
                    reduce_by,
                    side,
                    order.price,
                    order.remaining - reduce_by,
                )
        return None


def _owner_of(book: OrderBook, order_id: int) -> int:
    owner = book.order(order_id).owner
    assert isinstance(owner, int)
    return owner


def generate(seed: int, total_ops: int) -> Workload:
    """Draw the workload for `seed`: same seed and size, same ops, on any machine."""
    rng = random.Random(seed)
    owners = rng.sample(range(1, 1_000_000), OWNERS)
    workload = Workload(seed=seed, owners=owners)
    gen = _Generator(rng, owners, first_id=1)
    for spec in phase_specs(total_ops):
        workload.phases.append(gen.phase(spec))
    return workload
