"""Benchmark memory over a long dry run: a scenario advanced day by day, with and without retention.

    .venv/bin/python benchmarks/bench_memory.py [--quick] [--days 7] [--scenario volatile]
                                                [--trace]

Each run is a subprocess of its own (so its RSS is its own): it builds the scenario on a manual
clock and advances it in 1-day steps (`Exchange.advance`, no server), reading after each step
the process's RSS (`/proc/self/status` VmRSS) and the sizes of the tables retention bounds
(`simulator.risk.retention`). Two runs of the same scenario and seed:

- retention: the scenario's own settings (the documented defaults unless it sets them);
- baseline, measured in the same run: every retention limit at 10^12, so nothing is dropped
  (what the exchange kept before it had retention).

`--trace` also runs `tracemalloc` in each run (several times slower) and reports the memory
Python allocated and still holds after the last day. `--quick` makes every day 16 times shorter
(1.5 h). Prints a table per run and, last, a machine-readable line:

    RESULT rss_mb_per_sim_day=<float> baseline_rss_mb_per_sim_day=<float> rss_end_mb=<float>
           baseline_rss_end_mb=<float>  (one line)

The per-day growth is measured from the end of the first day to the end of the last (the first
day fills the windows every run has: the 24 h premium history, the rolling volume).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from time import perf_counter
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from benchmarks.harness import machine_load, python_version
from simulator.core.config import HISTORY_LIMITS

DAY_MS = 86_400_000
QUICK_DIVISOR = 16
DEFAULT_DAYS = 7
TIMEOUT_S = 3_600.0
UNBOUNDED = 10**12


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", default="volatile", help="scenario name or path")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="1-day advances")
    parser.add_argument("--quick", action="store_true", help="days 16x shorter")
    parser.add_argument("--trace", action="store_true", help="also run tracemalloc")
    parser.add_argument("--child", choices=("retention", "baseline"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.days < 2:
        parser.error("--days must be at least 2")
    return args


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _child(args: argparse.Namespace) -> None:
    # one run: print one JSON line per day
    from simulator.core.clock import ManualClock
    from simulator.server.scenarios import build_exchange, load_scenario

    scenario = load_scenario(args.scenario)
    if args.child == "baseline":
        config = {**scenario.config, **dict.fromkeys(HISTORY_LIMITS, UNBOUNDED)}
        scenario = msgspec.structs.replace(scenario, config=config)
    if args.trace:
        tracemalloc.start()
    exchange = build_exchange(scenario, ManualClock(scenario.start_ms))
    day_ms = DAY_MS // (QUICK_DIVISOR if args.quick else 1)
    for day in range(1, args.days + 1):
        started = perf_counter()
        exchange.advance(day_ms)
        elapsed = perf_counter() - started
        state = exchange.state
        row: dict[str, Any] = {
            "day": day,
            "advance_s": elapsed,
            "rss_kb": _rss_kb(),
            "orders": len(state.orders),
            "fills": len(state.fills),
            "trades": sum(len(t) for t in state.trades.values()),
            "payments": len(exchange.pricing.funding_payments),
            "quote_minutes": sum(len(d.quotes) for d in state.markets.values()),
            "journal": exchange.journal.last_seq - exchange.journal.first_seq + 1,
            "commands": len(exchange.command_log),
        }
        if args.trace:
            row["traced_kb"] = tracemalloc.get_traced_memory()[0] // 1024
        print(json.dumps(row), flush=True)


def _run(args: argparse.Namespace, mode: str) -> list[dict[str, Any]]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode]
    command += ["--scenario", args.scenario, "--days", str(args.days)]
    command += ["--quick"] if args.quick else []
    command += ["--trace"] if args.trace else []
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _per_day(rows: list[dict[str, Any]]) -> float:
    growth_kb: int = rows[-1]["rss_kb"] - rows[0]["rss_kb"]
    return growth_kb / 1_024 / (len(rows) - 1)


def _table(mode: str, rows: list[dict[str, Any]]) -> None:
    columns = ["day", "advance_s", "rss_kb", "orders", "fills", "trades", "payments"]
    columns += ["quote_minutes", "journal", "commands"]
    columns += ["traced_kb"] if "traced_kb" in rows[0] else []
    print(f"\n{mode}")
    print("  ".join(f"{name:>13}" for name in columns))
    for row in rows:
        cells = [f"{row[c]:13.2f}" if c == "advance_s" else f"{row[c]:>13,}" for c in columns]
        print("  ".join(cells))


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.child:
        _child(args)
        return
    span = "1.5 h (--quick)" if args.quick else "24 h"
    print(f"memory benchmark on {python_version()} ({sys.executable})")
    print(machine_load())
    print(f"scenario {args.scenario}: {args.days} advances of {span}, each run in a subprocess")
    results = {mode: _run(args, mode) for mode in ("retention", "baseline")}
    for mode, rows in results.items():
        _table(mode, rows)
    kept, base = results["retention"], results["baseline"]
    growth, base_growth = _per_day(kept), _per_day(base)
    print(
        f"\nRSS growth per simulated day after day 1: {growth:+.2f} MB with retention, "
        f"{base_growth:+.2f} MB without; at the end {kept[-1]['rss_kb'] / 1_024:.1f} MB "
        f"vs {base[-1]['rss_kb'] / 1_024:.1f} MB"
    )
    print(
        f"RESULT rss_mb_per_sim_day={growth:.3f} baseline_rss_mb_per_sim_day={base_growth:.3f} "
        f"rss_end_mb={kept[-1]['rss_kb'] / 1_024:.3f} "
        f"baseline_rss_end_mb={base[-1]['rss_kb'] / 1_024:.3f}"
    )


if __name__ == "__main__":
    main()
