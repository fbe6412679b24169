"""Benchmark order entry through the whole exchange against the bare order books underneath.

    .venv/bin/python benchmarks/bench_exchange.py [--seed 1] [--ops 50000] [--users 200]
                                                  [--quick] [--repeats N] [--profile]

Draws one seeded workload over 3 markets (KXBTCPERP, KXETHPERP, KXSOLPERP) and 200 users
(`exchange_workload`: a prefilled book per market, then mostly resting adds near the touch,
~10 % crossing adds, cancels and decreases) and replays it twice, both timed by the shared
harness (`harness`), in alternating rounds (one repeat of every pass each, `--repeats` rounds)
so that a busy spell of a shared machine slows both:

- exchange: `Exchange.place_order` / `cancel_order` / `decrease_order` with `PlaceOrder`
  commands built before timing (validation, notional limit, margin, matching, fees, positions,
  events, follow-ups). Every user holds $1,000,000 and the notional limit is out of reach, so
  nothing is rejected. The manual clock stands still during the timed loops (the prefill is
  followed by an untimed 1 s advance), so no timer fires mid-measurement. The exchange's order
  ids are strings it draws itself: the loop keeps each one in a slot list for later cancels
  and decreases (a list store per place: inside the throughput loop, outside the per-op
  latency window; tens of ns against tens of us);
- bare book: the same ops on one `matching.OrderBook` per market (same prices, counts, owners
  and order of calls; int ids), the floor the exchange's pipeline sits on.

Each pass builds a fresh exchange (or fresh books) and prefills it untimed. Prints the op mix,
a replay check (both runs must see the generating run's fills and resting orders), a table
per engine, latency per op kind and the ratio. `--profile` adds a cProfile pass of the
exchange and its top functions. The last line is machine-readable:

    RESULT orders_per_s=<int> p99_us=<float> bare_book_ops_per_s=<int> ratio_vs_bare=<float>
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path
from time import perf_counter, perf_counter_ns
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.exchange_workload import ExchangeWorkload, Op, generate
from benchmarks.harness import (
    EngineAdapter,
    PreparedPhase,
    machine_load,
    measure,
    merge,
    python_version,
)
from benchmarks.matching_workload import (
    CANCEL,
    CROSS,
    DECREASE,
    KIND_NAMES,
    NOMINAL_MIX,
    REST,
    SIDES,
    TIFS,
)
from matching import Fill, OrderBook
from simulator.core.clock import ManualClock
from simulator.core.config import ExchangeConfig
from simulator.core.money import MONEY_SCALE, parse_price
from simulator.exchange import Exchange
from simulator.model.markets import MarketSpec, load_markets
from simulator.model.orders import PlaceOrder

T0 = 1_781_395_200_000  # 2026-06-14 00:00 UTC
MARKETS = 3
BALANCE = 1_000_000 * MONEY_SCALE
NOTIONAL_LIMIT = 10**15
SETTLE_MS = 1_000  # untimed advance after the prefill: marks and tickers settle
TARGET_ORDERS_PER_S = 60_000
TARGET_RATIO = 0.15  # of the bare books' ops/s
DEFAULT_OPS = 50_000
QUICK_OPS = 5_000
PROFILE_ROWS = 25

_PLACE = 0
_CANCEL = 1
_DECREASE = 2


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    parser.add_argument(
        "--ops",
        type=int,
        default=None,
        help=f"timed ops (default {DEFAULT_OPS:_}; {QUICK_OPS:_} with --quick)",
    )
    parser.add_argument("--users", type=int, default=200, help="users placing orders (200)")
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_OPS:_} ops and 1 repeat"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="rounds, each one repeat of every pass per engine (default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="add a cProfile pass of the exchange"
    )
    args = parser.parse_args(argv)
    if args.ops is None:
        args.ops = QUICK_OPS if args.quick else DEFAULT_OPS
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.ops < 2:
        parser.error("--ops must be at least 2")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.users < 2:
        parser.error("--users must be at least 2")
    return args


# ------------------------------------------------------------------ exchange engine


class _ExchangeRun:
    """A fresh exchange with the benchmark's users, and the slots for its order ids."""

    __slots__ = ("ex", "ids")

    def __init__(self, specs: list[MarketSpec], users: int, n_ids: int) -> None:
        self.ex = Exchange(
            specs,
            clock=ManualClock(T0),
            seed=1,
            config=ExchangeConfig(default_notional_limit=NOTIONAL_LIMIT),
        )
        for u in range(users):
            self.ex.create_user(user_id=_user(u), api_key_id=f"key-{u}", balance=BALANCE)
        self.ids = [""] * n_ids


def _user(u: int) -> str:
    return f"user-{u}"


def _exchange_op(op: Op, tickers: list[str]) -> tuple[Any, ...]:
    kind = op[0]
    if kind in (REST, CROSS):
        _, m, order_id, owner, side, price, count, tif = op
        command = PlaceOrder(tickers[m], SIDES[side], price, count, f"c{order_id}", TIFS[tif])
        return (_PLACE, _user(owner), command, order_id)
    if kind == CANCEL:
        return (_CANCEL, _user(op[3]), op[2])
    if kind == DECREASE:
        return (_DECREASE, _user(op[3]), op[2], op[4])
    raise ValueError(f"unknown op kind {kind}")


def _ex_run(run: _ExchangeRun, ops: list[tuple[Any, ...]]) -> None:
    ex, ids = run.ex, run.ids
    place, cancel, decrease = ex.place_order, ex.cancel_order, ex.decrease_order
    for op in ops:
        kind = op[0]
        if kind == _PLACE:
            ids[op[3]] = place(op[1], op[2]).order.order_id
        elif kind == _CANCEL:
            cancel(op[1], ids[op[2]])
        else:
            decrease(op[1], ids[op[2]], reduce_by=op[3])


def _ex_prefill(run: _ExchangeRun, ops: list[tuple[Any, ...]]) -> None:
    _ex_run(run, ops)
    run.ex.advance(SETTLE_MS)


def _ex_run_timed(run: _ExchangeRun, ops: list[tuple[Any, ...]], out: list[int]) -> None:
    ex, ids = run.ex, run.ids
    place, cancel, decrease = ex.place_order, ex.cancel_order, ex.decrease_order
    ns = perf_counter_ns
    for i, op in enumerate(ops):
        kind = op[0]
        if kind == _PLACE:
            user, command = op[1], op[2]
            t0 = ns()
            result = place(user, command)
            t1 = ns()
            ids[op[3]] = result.order.order_id
        elif kind == _CANCEL:
            user, order_id = op[1], ids[op[2]]
            t0 = ns()
            cancel(user, order_id)
            t1 = ns()
        else:
            user, order_id, by = op[1], ids[op[2]], op[3]
            t0 = ns()
            decrease(user, order_id, reduce_by=by)
            t1 = ns()
        out[i] = t1 - t0


def _ex_check(run: _ExchangeRun, ops: list[tuple[Any, ...]]) -> dict[str, Any]:
    ex = run.ex
    trades_before = {t: len(v) for t, v in ex.trades.items()}
    seq_before = ex.journal.last_seq
    now = ex.now()
    _ex_run(run, ops)
    assert ex.now() == now, "the clock moved during the ops"
    return {
        "fills": [len(v) - trades_before[t] for t, v in ex.trades.items()],
        "resting_orders": [len(d.book) for d in ex.markets.values()],
        "events": ex.journal.last_seq - seq_before,
        "pending_timers": len(ex.timers),
    }


def exchange_engine(workload: ExchangeWorkload, specs: list[MarketSpec]) -> EngineAdapter:
    return EngineAdapter(
        name="exchange (Exchange.place_order / cancel_order / decrease_order)",
        new_book=lambda: _ExchangeRun(specs, workload.users, workload.n_ids),
        prefill=_ex_prefill,
        run=_ex_run,
        run_timed=_ex_run_timed,
        check=_ex_check,
    )


def prepare_exchange(workload: ExchangeWorkload, tickers: list[str]) -> PreparedPhase:
    prefill = [_exchange_op(op, tickers) for op in workload.prefill]
    ops = [_exchange_op(op, tickers) for op in workload.ops]
    kinds = [KIND_NAMES[op[0]] for op in workload.ops]
    return PreparedPhase("mixed", prefill, ops, len(ops), kinds)


# ----------------------------------------------------------------- bare-book engine


def _bare_op(op: Op) -> tuple[Any, ...]:
    kind = op[0]
    if kind in (REST, CROSS):
        _, m, order_id, owner, side, price, count, tif = op
        return (_PLACE, m, (order_id, owner, SIDES[side], price, count, TIFS[tif]))
    if kind == CANCEL:
        return (_CANCEL, op[1], op[2])
    if kind == DECREASE:
        return (_DECREASE, op[1], op[2], op[4])
    raise ValueError(f"unknown op kind {kind}")


def _bare_run(books: list[OrderBook], ops: list[tuple[Any, ...]]) -> None:
    places = [b.place for b in books]
    cancels = [b.cancel for b in books]
    decreases = [b.decrease for b in books]
    for op in ops:
        kind = op[0]
        if kind == _PLACE:
            places[op[1]](*op[2])
        elif kind == _CANCEL:
            cancels[op[1]](op[2])
        else:
            decreases[op[1]](op[2], reduce_by=op[3])


def _bare_run_timed(books: list[OrderBook], ops: list[tuple[Any, ...]], out: list[int]) -> None:
    places = [b.place for b in books]
    cancels = [b.cancel for b in books]
    decreases = [b.decrease for b in books]
    ns = perf_counter_ns
    for i, op in enumerate(ops):
        kind = op[0]
        if kind == _PLACE:
            place, args = places[op[1]], op[2]
            t0 = ns()
            place(*args)
            t1 = ns()
        elif kind == _CANCEL:
            cancel, order_id = cancels[op[1]], op[2]
            t0 = ns()
            cancel(order_id)
            t1 = ns()
        else:
            decrease, order_id, by = decreases[op[1]], op[2], op[3]
            t0 = ns()
            decrease(order_id, reduce_by=by)
            t1 = ns()
        out[i] = t1 - t0


def _bare_check(books: list[OrderBook], ops: list[tuple[Any, ...]]) -> dict[str, Any]:
    fills = [0] * len(books)
    events = 0
    for op in ops:
        kind, m = op[0], op[1]
        if kind == _PLACE:
            out = books[m].place(*op[2])
        elif kind == _CANCEL:
            out = books[m].cancel(op[2])
        else:
            out = books[m].decrease(op[2], reduce_by=op[3])
        events += len(out)
        fills[m] += sum(1 for e in out if type(e) is Fill)
    return {"fills": fills, "resting_orders": [len(b) for b in books], "events": events}


def bare_engine(markets: int) -> EngineAdapter:
    return EngineAdapter(
        name="bare book (matching.OrderBook per market)",
        new_book=lambda: [OrderBook() for _ in range(markets)],
        prefill=_bare_run,
        run=_bare_run,
        run_timed=_bare_run_timed,
        check=_bare_check,
    )


def prepare_bare(workload: ExchangeWorkload) -> PreparedPhase:
    prefill = [_bare_op(op) for op in workload.prefill]
    ops = [_bare_op(op) for op in workload.ops]
    kinds = [KIND_NAMES[op[0]] for op in workload.ops]
    return PreparedPhase("mixed", prefill, ops, len(ops), kinds)


# ----------------------------------------------------------------------- report


def _print_workload(workload: ExchangeWorkload, tickers: list[str], seconds: float) -> None:
    print(
        f"workload: seed {workload.seed}, {len(workload.ops):,} timed ops over {len(tickers)} "
        f"markets ({', '.join(tickers)}), {workload.users} users, generated in {seconds:.2f} s"
    )
    nominal = "/".join(f"{int(s * 100)}" for s in NOMINAL_MIX)
    n = max(1, len(workload.ops))
    parts = "  ".join(
        f"{k} {workload.mix[k]:,} ({100 * workload.mix[k] / n:.1f}%)" for k in KIND_NAMES
    )
    print(
        f"op mix (nominal {nominal} % {'/'.join(KIND_NAMES)}, tilted to hold each book's size; "
        f"crossing adds take several resting orders each): {parts}"
    )
    print(
        f"prefill: {len(workload.prefill):,} GTC orders on {workload.levels_per_side} levels a "
        f"side around each index ({', '.join(f'{m:,}' for m in workload.mids)} ticks); "
        f"resting orders during ops min {workload.size_min:,} max {workload.size_max:,}; "
        f"{sum(workload.fills):,} fills"
    )


def _print_check(
    workload: ExchangeWorkload, ex_fig: dict[str, Any], bare_fig: dict[str, Any]
) -> None:
    print()
    print("replay check (untimed warm-up pass):")
    expect = (workload.fills, workload.final_resting)
    n = max(1, len(workload.ops))
    for label, fig in (("exchange", ex_fig), ("bare", bare_fig)):
        t = fig["phases"]["mixed"]["tallies"]
        same = (t["fills"], t["resting_orders"]) == expect
        print(
            f"  {label:<9} fills {t['fills']}, resting {t['resting_orders']} "
            f"({'matches' if same else 'DIFFERS FROM'} the generating run); "
            f"{t['events']:,} events ({t['events'] / n:.1f} per op)"
        )
    t = ex_fig["phases"]["mixed"]["tallies"]
    print(
        f"  exchange: clock still during the ops, {t['pending_timers']} timers armed and not "
        "fired (mark, ticker, feed, funding)"
    )


def _row(engine: str, fig: dict[str, Any]) -> str:
    return (
        f"{engine:<9} {fig['ops']:>9,} {fig['best_s']:>9.3f} {int(fig['ops_per_s']):>12,} "
        f"{fig['p50_us']:>8.2f} {fig['p99_us']:>8.2f} {fig['max_us']:>9.1f}"
    )


def _print_table(ex_fig: dict[str, Any], bare_fig: dict[str, Any]) -> None:
    repeats = ex_fig["repeats"]
    print()
    print(
        f"throughput = best of {repeats} run(s) (ops / total time of a tight loop); "
        f"p50/p99/max = median over {repeats} run(s) of each run's nearest-rank percentile of "
        f"per-op latency (perf_counter_ns around each call), separate passes; {ex_fig['python']}"
    )
    header = (
        f"{'engine':<9} {'ops':>9} {'best s':>9} {'ops/s':>12} {'p50 us':>8} {'p99 us':>8} "
        f"{'max us':>9}"
    )
    print(header)
    print("-" * len(header))
    print(_row("exchange", ex_fig["overall"]))
    print(_row("bare", bare_fig["overall"]))
    print()
    print("latency by op kind, p50 / p99 us (median over runs):")
    print(f"  {'kind':<9} {'ops':>8} {'exchange':>20} {'bare book':>20} {'p50 ratio':>10}")
    ex_kinds = ex_fig["phases"]["mixed"]["by_kind"]
    bare_kinds = bare_fig["phases"]["mixed"]["by_kind"]
    for kind in KIND_NAMES:
        e, b = ex_kinds.get(kind), bare_kinds.get(kind)
        if e is None or b is None:
            continue
        ratio = e["p50_us"] / b["p50_us"] if b["p50_us"] else 0.0
        print(
            f"  {kind:<9} {e['ops']:>8,} {e['p50_us']:>10.2f} / {e['p99_us']:>7.2f} "
            f"{b['p50_us']:>10.2f} / {b['p99_us']:>7.2f} {ratio:>9.1f}x"
        )


def _profile(engine: EngineAdapter, phase: PreparedPhase, rows: int = PROFILE_ROWS) -> list[str]:
    """Top functions of one untimed exchange pass under cProfile, by cumulative time."""
    run = engine.new_book()
    engine.prefill(run, phase.prefill)
    profiler = cProfile.Profile()
    profiler.enable()
    engine.run(run, phase.ops)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(rows)
    stats.sort_stats("tottime").print_stats(rows)
    return out.getvalue().rstrip().splitlines()


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    print(f"exchange benchmark on {python_version()} ({sys.executable})")
    print(machine_load())
    specs = load_markets()[:MARKETS]
    tickers = [s.ticker for s in specs]
    mids = [parse_price(str(s.reference["price"])) for s in specs]

    start = perf_counter()
    workload = generate(args.seed, args.ops, mids, users=args.users)
    _print_workload(workload, tickers, perf_counter() - start)

    ex_engine = exchange_engine(workload, specs)
    ex_phase = prepare_exchange(workload, tickers)
    bare = bare_engine(len(specs))
    bare_phase = prepare_bare(workload)
    # alternating rounds, one repeat of every pass each (`harness.merge`)
    ex_rounds: list[dict[str, Any]] = []
    bare_rounds: list[dict[str, Any]] = []
    ex_s = bare_s = 0.0
    for _ in range(args.repeats):
        start = perf_counter()
        ex_rounds.append(measure(ex_engine, [ex_phase], 1))
        ex_s += perf_counter() - start
        start = perf_counter()
        bare_rounds.append(measure(bare, [bare_phase], 1))
        bare_s += perf_counter() - start
    ex_fig, bare_fig = merge(ex_rounds), merge(bare_rounds)
    print(
        f"exchange measured in {ex_s:.1f} s, bare book in {bare_s:.1f} s "
        f"({args.repeats} alternating round(s))"
    )

    _print_check(workload, ex_fig, bare_fig)
    _print_table(ex_fig, bare_fig)

    if args.profile:
        print()
        print(f"cProfile of one untimed exchange pass (top {PROFILE_ROWS}; profiling slows it):")
        for line in _profile(ex_engine, ex_phase):
            print(f"  {line}")

    orders_per_s = int(ex_fig["overall"]["ops_per_s"])
    p99 = float(ex_fig["overall"]["p99_us"])
    bare_ops = int(bare_fig["overall"]["ops_per_s"])
    ratio = ex_fig["overall"]["ops_per_s"] / bare_fig["overall"]["ops_per_s"]
    print()
    print(
        f"target (exchange): >= {TARGET_ORDERS_PER_S:,} orders/s and >= {TARGET_RATIO}x the bare "
        "books -> "
        f"{'MET' if orders_per_s >= TARGET_ORDERS_PER_S and ratio >= TARGET_RATIO else 'NOT MET'} "
        f"({orders_per_s:,} orders/s, {ratio:.3f}x the bare books' {bare_ops:,} ops/s)"
    )
    print(
        f"RESULT orders_per_s={orders_per_s} p99_us={p99:.2f} "
        f"bare_book_ops_per_s={bare_ops} ratio_vs_bare={ratio:.4f}"
    )


if __name__ == "__main__":
    main()
