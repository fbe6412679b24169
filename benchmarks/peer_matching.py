"""Replay the benchmark workload on the peer engine `matching-engine` 0.1.1 and print figures.

Runs on the peer's own interpreter (Python >= 3.12, with only `matching-engine` and its
dependencies installed), so it imports nothing from this project but the standard-library
timing harness `benchmarks.harness`:

    PEER_PYTHON benchmarks/peer_matching.py WORKLOAD.json [--repeats N]

It reads the workload file written by `bench_matching.py`, builds every `SequencedCommand`
before any timing (sequence numbers restart at 1 for each phase's fresh engine), times the
same passes as our engine through the shared harness, and prints one JSON object on stdout.

Adaptation: the peer has no decrease, so a workload decrease becomes a `CancelOrder` then a
GTC `NewOrder` with the same id, side and price for the reduced quantity: two `process`
calls, counted and timed as one workload op. The re-placed order goes to the back of its
level, losing the time priority our in-place decrease keeps, so later fills (and hence which
orders are still live for later cancels) can diverge slightly from ours; the tallies in the
output (trades, `unknown_order` rejections, resting orders at the end) show how much.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from time import perf_counter_ns
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching_engine import (  # type: ignore[import-not-found]
    CancelOrder,
    NewOrder,
    SequencedCommand,
    Side,
    TimeInForce,
    __version__,
)
from matching_engine.engine import MatchingEngine  # type: ignore[import-not-found]
from matching_engine.events import (  # type: ignore[import-not-found]
    CancelReason,
    OrderCancelled,
    OrderRejected,
    Trade,
)

from benchmarks.harness import EngineAdapter, PreparedPhase, measure

# Workload encoding (kept in step with `benchmarks.matching_workload`, which this script may
# not import because it needs the project's own book).
REST, CROSS, CANCEL, DECREASE = 0, 1, 2, 3
KIND_NAMES = ("rest", "cross", "cancel", "decrease")
SIDES = (Side.BUY, Side.SELL)
TIFS = (TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK)


def prepare(name: str, prefill: list[list[int]], ops: list[list[int]]) -> PreparedPhase:
    """Build the peer's commands for one phase; a decrease becomes a (cancel, new) pair."""
    seq = 0

    def stamp(command: Any) -> Any:
        nonlocal seq
        seq += 1
        return SequencedCommand(seq, 0, command)

    pre = [
        stamp(NewOrder(op[1], op[2], SIDES[op[3]], op[4], op[5], tif=TIFS[op[6]])) for op in prefill
    ]
    cmds: list[Any] = []
    for op in ops:
        kind = op[0]
        if kind in (REST, CROSS):
            cmds.append(stamp(NewOrder(op[1], op[2], SIDES[op[3]], op[4], op[5], tif=TIFS[op[6]])))
        elif kind == CANCEL:
            cmds.append(stamp(CancelOrder(op[1], op[2])))
        elif kind == DECREASE:
            _, order_id, owner, _reduce_by, side, price, remaining = op
            cancel = stamp(CancelOrder(order_id, owner))
            replace = stamp(NewOrder(order_id, owner, SIDES[side], price, remaining))
            cmds.append((cancel, replace))
        else:
            raise ValueError(f"unknown op kind {kind}")
    return PreparedPhase(name, pre, cmds, len(ops), [KIND_NAMES[op[0]] for op in ops])


def _prefill(engine: Any, prefill: list[Any]) -> None:
    process = engine.process
    for sc in prefill:
        process(sc)


def _run(engine: Any, ops: list[Any]) -> None:
    process = engine.process
    for op in ops:
        if type(op) is tuple:
            process(op[0])
            process(op[1])
        else:
            process(op)


def _run_timed(engine: Any, ops: list[Any], out: list[int]) -> None:
    process = engine.process
    ns = perf_counter_ns
    for i, op in enumerate(ops):
        if type(op) is tuple:
            first, second = op
            t0 = ns()
            process(first)
            process(second)
            t1 = ns()
        else:
            t0 = ns()
            process(op)
            t1 = ns()
        out[i] = t1 - t0


def _check(engine: Any, ops: list[Any]) -> dict[str, Any]:
    trades = stopped = events = 0
    rejected: dict[str, int] = {}
    for op in ops:
        out = (
            [*engine.process(op[0]), *engine.process(op[1])]
            if type(op) is tuple
            else (engine.process(op))
        )
        events += len(out)
        for e in out:
            kind = type(e)
            if kind is Trade:
                trades += 1
            elif kind is OrderRejected:
                rejected[str(e.reason)] = rejected.get(str(e.reason), 0) + 1
            elif kind is OrderCancelled and e.reason is CancelReason.SELF_TRADE:
                stopped += 1
    book = engine.book
    return {
        "events": events,
        "fills": trades,
        "self_trade_stops": stopped,
        "rejected": rejected,
        "resting_orders": len(book),
        "levels": [len(book.bids.keys), len(book.asks.keys)],
    }


ENGINE = EngineAdapter(
    name=f"peer (matching-engine {__version__})",
    new_book=MatchingEngine,
    prefill=_prefill,
    run=_run,
    run_timed=_run_timed,
    check=_check,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", type=Path, help="workload JSON written by bench_matching.py")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    data = json.loads(args.workload.read_text(encoding="utf-8"))
    phases = [prepare(p["name"], p["prefill"], p["ops"]) for p in data["phases"]]
    del data
    result = measure(ENGINE, phases, args.repeats)
    result["version"] = __version__
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
