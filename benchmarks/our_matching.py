"""Adapter that replays the benchmark workload on `matching.OrderBook` for the timing harness.

Workload tuples (see `matching_workload`) become call arguments with the book's enums before
any timing; the loops below then only dispatch on the op kind and call the book:
`place(...)`, `cancel(order_id)` or `decrease(order_id, reduce_by=n)`.
"""

from __future__ import annotations

from time import perf_counter_ns
from typing import Any

from benchmarks.harness import EngineAdapter, PreparedPhase
from benchmarks.matching_workload import (
    CANCEL,
    CROSS,
    DECREASE,
    KIND_NAMES,
    REST,
    SIDES,
    TIFS,
    Phase,
)
from matching import Fill, OrderBook, OrderUpdate, Reason

_PLACE = 0
_CANCEL = 1
_DECREASE = 2


def prepare(phase: Phase) -> PreparedPhase:
    """Turn a phase's tuples into this engine's call arguments."""
    prefill = [(op[1], op[2], SIDES[op[3]], op[4], op[5], TIFS[op[6]]) for op in phase.prefill]
    ops: list[tuple[Any, ...]] = []
    for op in phase.ops:
        kind = op[0]
        if kind in (REST, CROSS):
            ops.append((_PLACE, (op[1], op[2], SIDES[op[3]], op[4], op[5], TIFS[op[6]])))
        elif kind == CANCEL:
            ops.append((_CANCEL, op[1]))
        elif kind == DECREASE:
            ops.append((_DECREASE, op[1], op[3]))
        else:
            raise ValueError(f"unknown op kind {kind}")
    kinds = [KIND_NAMES[op[0]] for op in phase.ops]
    return PreparedPhase(phase.name, prefill, ops, len(phase.ops), kinds)


def _prefill(book: OrderBook, prefill: list[tuple[Any, ...]]) -> None:
    place = book.place
    for args in prefill:
        place(*args)


def _run(book: OrderBook, ops: list[tuple[Any, ...]]) -> None:
    place = book.place
    cancel = book.cancel
    decrease = book.decrease
    for op in ops:
        kind = op[0]
        if kind == _PLACE:
            place(*op[1])
        elif kind == _CANCEL:
            cancel(op[1])
        else:
            decrease(op[1], reduce_by=op[2])


def _run_timed(book: OrderBook, ops: list[tuple[Any, ...]], out: list[int]) -> None:
    place = book.place
    cancel = book.cancel
    decrease = book.decrease
    ns = perf_counter_ns
    for i, op in enumerate(ops):
        kind = op[0]
        if kind == _PLACE:
            args = op[1]
            t0 = ns()
            place(*args)
            t1 = ns()
        elif kind == _CANCEL:
            order_id = op[1]
            t0 = ns()
            cancel(order_id)
            t1 = ns()
        else:
            order_id = op[1]
            by = op[2]
            t0 = ns()
            decrease(order_id, reduce_by=by)
            t1 = ns()
        out[i] = t1 - t0


def _check(book: OrderBook, ops: list[tuple[Any, ...]]) -> dict[str, Any]:
    fills = stopped = events = 0
    for op in ops:
        kind = op[0]
        if kind == _PLACE:
            out = book.place(*op[1])
            last = out[-1]
            if isinstance(last, OrderUpdate) and last.reason is Reason.SELF_TRADE_CANCEL:
                stopped += 1
        elif kind == _CANCEL:
            out = book.cancel(op[1])
        else:
            out = book.decrease(op[1], reduce_by=op[2])
        events += len(out)
        fills += sum(1 for e in out if type(e) is Fill)
    depth = book.depth()
    return {
        "events": events,
        "fills": fills,
        "self_trade_stops": stopped,
        "resting_orders": len(book),
        "levels": [len(depth.bids), len(depth.asks)],
    }


ENGINE = EngineAdapter(
    name="ours (matching.OrderBook)",
    new_book=OrderBook,
    prefill=_prefill,
    run=_run,
    run_timed=_run_timed,
    check=_check,
)
