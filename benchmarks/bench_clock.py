"""Benchmark moving simulated time: `Exchange.advance` over 8 hours with 1,000 open positions.

    .venv/bin/python benchmarks/bench_clock.py [--positions 1000] [--advance-ms 28800000]
                                               [--seed 1] [--quick] [--repeats N] [--profile]

Builds (untimed) an exchange on a manual clock at 2026-06-14 00:00 UTC with 3 markets
(KXBTCPERP, KXETHPERP, KXSOLPERP), a market maker's resting liquidity (10 levels a side per
market, deep enough for the impact notional, centred 0.2 % above the index so the premium
clears the funding deadband and funding is actually paid) and `--positions` subaccounts holding
positions: long/short pairs made by matched orders (pair i trades 1-10 contracts in market
i % 3 inside the maker's spread, each side on its own user with $10,000). After an untimed
2 s settle it times one `ex.advance(8 h)`, which crosses the 04:00 UTC (00:00 New York)
funding time of every market, so each position is paid or charges funding and is re-checked
for margin.

Two feed set-ups, each on fresh exchanges, best and median of `--repeats` runs:

- static: `{"kind": "static"}` reference feeds; only funding, settlement marks and coalesced
  tickers have work to do;
- random-walk: the markets' default seeded random-walk feeds; every reference moves every
  second, so marks, premiums, tickers and margin budgets are re-evaluated all along.

Prints events published by type, funding payments and rates, liquidation checks, then the
random-walk figure on the line before the machine-readable last line, which is the STATIC
case (best of the runs, milliseconds):

    RESULT advance_8h_ms=<float>
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import io
import pstats
import statistics
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import machine_load, python_version
from matching import Side, TimeInForce
from simulator.core.clock import ManualClock
from simulator.core.config import ExchangeConfig
from simulator.core.events import FundingPaid, FundingRateSet
from simulator.core.money import MONEY_SCALE, RATE_SCALE, ceil_div, parse_price
from simulator.exchange import Exchange
from simulator.model.markets import MarketSpec, load_markets
from simulator.model.orders import PlaceOrder

T0 = 1_781_395_200_000  # 2026-06-14 00:00 UTC; the next crypto_8h funding is 04:00 UTC
MARKETS = 3
EIGHT_HOURS_MS = 8 * 3_600 * 1_000
QUICK_ADVANCE_MS = 5 * 60 * 1_000
DEFAULT_POSITIONS = 1_000
QUICK_POSITIONS = 60
SETTLE_MS = 2_000
TARGET_MS = 1_000.0
LEVELS = 10  # maker levels a side per market
HALF_SPREAD = 5  # ticks from the centre to the maker's best bid and ask
SKEW_BPS = 20  # the book's centre sits this far above the index
MAKER_BALANCE = 10_000_000 * MONEY_SCALE
HOLDER_BALANCE = 10_000 * MONEY_SCALE
LOT = 100
FEEDS = ("static", "random-walk")
PROFILE_ROWS = 25


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="exchange seed (default 1)")
    parser.add_argument(
        "--positions",
        type=int,
        default=None,
        help=f"open positions, in long/short pairs (default {DEFAULT_POSITIONS:_}; "
        f"{QUICK_POSITIONS} with --quick)",
    )
    parser.add_argument(
        "--advance-ms",
        type=int,
        default=None,
        help=f"simulated time to advance (default {EIGHT_HOURS_MS:_}; "
        f"{QUICK_ADVANCE_MS:_} with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: few positions, minutes, 1 repeat"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="runs per feed set-up (default 3; 1 --quick)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="add a cProfile run of each feed set-up"
    )
    args = parser.parse_args(argv)
    if args.positions is None:
        args.positions = QUICK_POSITIONS if args.quick else DEFAULT_POSITIONS
    if args.advance_ms is None:
        args.advance_ms = QUICK_ADVANCE_MS if args.quick else EIGHT_HOURS_MS
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.positions < 2:
        parser.error("--positions must be at least 2")
    if args.advance_ms < 1:
        parser.error("--advance-ms must be positive")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def _specs(feeds: str) -> list[MarketSpec]:
    specs = load_markets()[:MARKETS]
    if feeds == "static":
        specs = [
            dataclasses.replace(s, reference={"kind": "static", "price": s.reference["price"]})
            for s in specs
        ]
    return specs


def build(feeds: str, positions: int, seed: int) -> Exchange:
    """An exchange with the maker's liquidity and `positions` // 2 matched long/short pairs."""
    specs = _specs(feeds)
    ex = Exchange(
        specs,
        clock=ManualClock(T0),
        seed=seed,
        config=ExchangeConfig(default_notional_limit=10**15),
    )
    ex.create_user(user_id="maker", api_key_id="key-maker", balance=MAKER_BALANCE)
    centres = []
    for spec in specs:
        index = parse_price(str(spec.reference["price"]))
        centre = index + index * SKEW_BPS // 10_000
        centres.append(centre)
        # enough per side for twice the impact notional, spread over the levels
        per_level = ceil_div(2 * spec.funding.impact_notional, centre * LEVELS * LOT) * LOT
        for level in range(LEVELS):
            for side, price in (
                (Side.BID, centre - HALF_SPREAD - level),
                (Side.ASK, centre + HALF_SPREAD + level),
            ):
                cid = f"mm-{spec.ticker}-{side.value}-{level}"
                ex.place_order("maker", PlaceOrder(spec.ticker, side, price, per_level, cid))
    ioc = TimeInForce.IMMEDIATE_OR_CANCEL
    for i in range(positions // 2):
        m = i % len(specs)
        ticker, count = specs[m].ticker, (1 + i % 10) * LOT
        long_id, short_id = f"long-{i}", f"short-{i}"
        ex.create_user(user_id=long_id, api_key_id=f"key-{long_id}", balance=HOLDER_BALANCE)
        ex.create_user(user_id=short_id, api_key_id=f"key-{short_id}", balance=HOLDER_BALANCE)
        ex.place_order(short_id, PlaceOrder(ticker, Side.ASK, centres[m], count, f"s{i}"))
        result = ex.place_order(
            long_id, PlaceOrder(ticker, Side.BID, centres[m], count, f"l{i}", ioc)
        )
        assert result.fill_count == count, f"pair {i} did not match ({result.fill_count})"
    held = sum(len(ex.holders(s.ticker)) for s in specs)
    assert held == positions // 2 * 2, f"{held} positions open, wanted {positions // 2 * 2}"
    ex.advance(SETTLE_MS)
    return ex


def _time_one(feeds: str, positions: int, seed: int, advance_ms: int) -> dict[str, Any]:
    ex = build(feeds, positions, seed)
    seq0 = ex.journal.last_seq
    evals0 = ex.liquidator.evaluations
    start_ms = ex.now()
    gc.collect()
    gc.freeze()
    try:
        t0 = perf_counter()
        ex.advance(advance_ms)
        elapsed = perf_counter() - t0
    finally:
        gc.unfreeze()
    events = [e for _, e in ex.events_since(seq0)]
    rates = {e.ticker: e.rate for e in events if isinstance(e, FundingRateSet)}
    paid = [e for e in events if isinstance(e, FundingPaid)]
    return {
        "ms": elapsed * 1_000,
        "start_ms": start_ms,
        "end_ms": ex.now(),
        "events": len(events),
        "by_type": Counter(type(e).__name__ for e in events),
        "funding_times": sum(1 for e in events if isinstance(e, FundingRateSet)),
        "funding_paid": len(paid),
        "funding_accounts": len({(e.user_id, e.subaccount) for e in paid}),
        "rates": rates,
        "liquidation_checks": ex.liquidator.evaluations - evals0,
        "holders": sum(len(ex.holders(t)) for t in ex.markets),
    }


def measure(feeds: str, positions: int, seed: int, advance_ms: int, repeats: int) -> dict[str, Any]:
    runs = [_time_one(feeds, positions, seed, advance_ms) for _ in range(repeats)]
    times = [r["ms"] for r in runs]
    summary = dict(runs[0])
    summary.update(best_ms=min(times), median_ms=statistics.median(times), runs_ms=times)
    return summary


def _profile(feeds: str, positions: int, seed: int, advance_ms: int) -> list[str]:
    ex = build(feeds, positions, seed)
    profiler = cProfile.Profile()
    profiler.enable()
    ex.advance(advance_ms)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(PROFILE_ROWS)
    return out.getvalue().rstrip().splitlines()


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1_000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pct(rate: int) -> str:
    return f"{100 * rate / RATE_SCALE:+.4f}%"


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    pairs = args.positions // 2
    print(f"clock benchmark on {python_version()} ({sys.executable})")
    print(machine_load())
    tickers = [s.ticker for s in _specs("static")]
    print(
        f"setup (untimed): {len(tickers)} markets ({', '.join(tickers)}); {pairs * 2:,} open "
        f"positions = {pairs:,} long/short pairs matched in market i % {len(tickers)} "
        f"(1-10 contracts, one user each, ${HOLDER_BALANCE // MONEY_SCALE:,}); maker liquidity "
        f"{LEVELS} levels a side per market, centred {SKEW_BPS / 100:.2f}% above the index "
        f"so the premium clears the funding deadband; then a {SETTLE_MS:,} ms settle"
    )
    hours = args.advance_ms / 3_600_000
    print(
        f"timed: one ex.advance({args.advance_ms:_}) ({hours:.2f} h of simulated time) per "
        f"fresh exchange, gc.collect() + gc.freeze() before; best and median of "
        f"{args.repeats} run(s) per feed set-up"
    )

    results: dict[str, dict[str, Any]] = {}
    for feeds in FEEDS:
        start = perf_counter()
        results[feeds] = measure(feeds, args.positions, args.seed, args.advance_ms, args.repeats)
        print(f"{feeds} feeds measured in {perf_counter() - start:.1f} s (builds included)")

    first = results["static"]
    print(f"simulated span: {_utc(first['start_ms'])} -> {_utc(first['end_ms'])}")
    print()
    header = (
        f"{'feeds':<12} {'best ms':>10} {'median ms':>10} {'events':>9} {'tickers':>8} "
        f"{'funding':>8} {'paid':>7} {'liq chks':>9}"
    )
    print(header)
    print("-" * len(header))
    for feeds, r in results.items():
        print(
            f"{feeds:<12} {r['best_ms']:>10.3f} {r['median_ms']:>10.3f} {r['events']:>9,} "
            f"{r['by_type'].get('TickerChanged', 0):>8,} {r['funding_times']:>8,} "
            f"{r['funding_paid']:>7,} {r['liquidation_checks']:>9,}"
        )
    print(
        "(events = published during the advance; tickers = TickerChanged; funding = funding "
        "times fired over all markets; paid = FundingPaid events; liq chks = margin "
        "evaluations)"
    )
    print()
    for feeds, r in results.items():
        kinds = ", ".join(f"{k} {n:,}" for k, n in r["by_type"].most_common())
        rates = ", ".join(f"{t} {_pct(rate)}" for t, rate in sorted(r["rates"].items()))
        print(f"{feeds}: events by type: {kinds or 'none'}")
        print(
            f"{feeds}: funding rates {rates or 'none (no funding time crossed)'}; "
            f"{r['funding_paid']:,} payments to {r['funding_accounts']:,} of "
            f"{r['holders']:,} open positions; runs ms "
            f"{', '.join(f'{t:.1f}' for t in r['runs_ms'])}"
        )

    if args.profile:
        for feeds in FEEDS:
            print()
            print(f"cProfile of one {feeds} advance (top {PROFILE_ROWS} by cumulative time):")
            for line in _profile(feeds, args.positions, args.seed, args.advance_ms):
                print(f"  {line}")

    static, walk = results["static"], results["random-walk"]
    print()
    print(
        f"target: static advance well under {TARGET_MS:,.0f} ms -> "
        f"{'MET' if static['best_ms'] < TARGET_MS else 'NOT MET'}; random-walk "
        f"{'under' if walk['best_ms'] < TARGET_MS else 'OVER'} {TARGET_MS:,.0f} ms"
    )
    print(
        f"random-walk feeds: advance_8h_ms={walk['best_ms']:.3f} (best of {args.repeats}); "
        "the RESULT line below is the static-feed case"
    )
    print(f"RESULT advance_8h_ms={static['best_ms']:.3f}")


if __name__ == "__main__":
    main()
