"""Count the instructions an advance or a batch of orders executes: a speed comparison that
does not drift.

    .venv/bin/python benchmarks/instructions.py [--hours 1] [--scenario default]
                                                [--orders N] [--base CHECKOUT]

Wall-clock timings on a shared two-core VM move by 15-40 % between runs of the same code, so
two commits a few percent apart cannot be told apart by timing them. Instruction counts can.
Each measurement runs a small workload in a fresh interpreter under valgrind's cachegrind
(`--cache-sim=no`, `PYTHONHASHSEED=0`), once idle and once busy; the difference is what the
busy part executed, without start-up, imports and set-up. Repeated counts of the same checkout
agree to within about 0.001 %. The workloads:

- advance (the default): build the scenario on a manual clock, advance 1 s, then advance
  `--hours` (idle: an advance of 0). Counted per simulated hour.
- `--orders N`: the exchange pipeline of `bench_exchange.py`: its seeded workload of N ops
  (resting and crossing orders, cancels, decreases over 3 markets and 200 users) through
  `Exchange.place_order` / `cancel_order` / `decrease_order` after its prefill (idle: the same
  workload built and prefilled, no op run). Counted per op. Both checkouts generate the ops
  with their own `benchmarks/exchange_workload.py`: the events each publishes show whether
  they ran the same.

With `--base CHECKOUT` (another checkout's directory, e.g. made by
`git worktree add /tmp/base HEAD~1`) the same is counted there (`PYTHONPATH` pointing at it,
this checkout's interpreter) and the ratio printed. Instructions are not time (cache misses and
allocation weigh differently), so a wall-clock benchmark (`bench_time_travel.py`,
`bench_exchange.py`) still has the last word on a large change; the sign and size of a small
one shows here first. Pair it with `benchmarks/identity.py`, which shows that the change
altered no result.

Needs `valgrind` (Debian: `apt-get install valgrind`). It runs about 50 times slower than the
interpreter alone: about a minute for an hour of `default`, half a minute for 5,000 orders.
Prints the instructions and events of each checkout; the last line is machine-readable:

    RESULT instructions_per_sim_hour=<int> events_per_sim_hour=<int>
           [base_instructions_per_sim_hour=<int> ratio_vs_base=<float>]  (one line)
    RESULT instructions_per_op=<int> ops=<int> events=<int>
           [base_instructions_per_op=<int> ratio_vs_base=<float>]  (with --orders)
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOUR_MS = 3_600_000

WORKLOAD = """
import gc, sys
if sys.argv[1] == "advance":  # advance SCENARIO MS
    from simulator.core.clock import ManualClock
    from simulator.server.scenarios import build_exchange, load_scenario
    scenario = load_scenario(sys.argv[2])
    exchange = build_exchange(scenario, ManualClock(scenario.start_ms))
    exchange.advance(1_000)
    gc.collect()
    before = exchange.journal.last_seq
    exchange.advance(int(sys.argv[3]))
else:  # orders N RUN: the first RUN of bench_exchange's N seeded ops, after its prefill
    from benchmarks import bench_exchange as bench
    from benchmarks.exchange_workload import generate
    specs = bench.load_markets()[: bench.MARKETS]
    mids = [bench.parse_price(str(spec.reference["price"])) for spec in specs]
    workload = generate(1, int(sys.argv[2]), mids, users=200)
    engine = bench.exchange_engine(workload, specs)
    phase = bench.prepare_exchange(workload, [spec.ticker for spec in specs])
    run = engine.new_book()
    engine.prefill(run, phase.prefill)
    exchange = run.ex
    gc.collect()
    before = exchange.journal.last_seq
    engine.run(run, phase.ops[: int(sys.argv[3])])
print("events", exchange.journal.last_seq - before)
"""

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
_EVENTS = re.compile(r"^events (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Count:
    """What one run of the workload executed, and the events its busy part published."""

    instructions: int
    events: int


Runner = Callable[[Path, list[str]], Count]
"""Runs the workload with these arguments in a checkout (`valgrind_run`; tests pass a fake)."""


def parse_refs(report: str) -> int:
    """The `I refs` total of a cachegrind report (its stderr)."""
    found = _REFS.search(report)
    if found is None:
        raise ValueError(f"no 'I refs' line in valgrind's output:\n{report[-2_000:]}")
    return int(found.group(1).replace(",", ""))


def parse_events(output: str) -> int:
    """The events count the workload printed."""
    found = _EVENTS.search(output)
    if found is None:
        raise ValueError(f"the workload printed no events count:\n{output[-2_000:]}")
    return int(found.group(1))


def advance_args(scenario: str, ms: int) -> list[str]:
    """The workload's arguments for an advance of `ms` of `scenario`."""
    return ["advance", scenario, str(ms)]


def orders_args(ops: int, run: int) -> list[str]:
    """The workload's arguments for the first `run` of `ops` generated order ops."""
    return ["orders", str(ops), str(run)]


def command(args: list[str]) -> list[str]:
    """The valgrind command line of one run of the workload."""
    return [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-c",
        WORKLOAD,
        *args,
    ]


def environment(checkout: Path) -> dict[str, str]:
    """The workload's environment: `checkout` first on the path, fixed hashing, no bytecode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(checkout), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    return env


def valgrind_run(checkout: Path, args: list[str]) -> Count:
    """Run the workload under cachegrind in `checkout` (the default `Runner`)."""
    done = subprocess.run(
        command(args),
        cwd=checkout,
        env=environment(checkout),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the workload failed in {checkout}:\n{done.stderr[-2_000:]}")
    return Count(parse_refs(done.stderr), parse_events(done.stdout))


def per_hour(run: Runner, checkout: Path, scenario: str, span_ms: int) -> Count:
    """Instructions and events of advancing `span_ms`, scaled to one simulated hour."""
    idle = run(checkout, advance_args(scenario, 0))
    busy = run(checkout, advance_args(scenario, span_ms))
    return Count(
        round((busy.instructions - idle.instructions) * HOUR_MS / span_ms),
        round(busy.events * HOUR_MS / span_ms),
    )


def per_op(run: Runner, checkout: Path, ops: int) -> Count:
    """Instructions per op of running `ops` order ops, and the events they published."""
    idle = run(checkout, orders_args(ops, 0))
    busy = run(checkout, orders_args(ops, ops))
    return Count(round((busy.instructions - idle.instructions) / ops), busy.events)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="simulated span (default 1)")
    parser.add_argument(
        "--scenario", default="default", help="scenario name or file (default: default)"
    )
    parser.add_argument(
        "--orders", type=int, metavar="N", help="count N order ops through the exchange instead"
    )
    parser.add_argument("--base", type=Path, help="another checkout to count and compare with")
    args = parser.parse_args(argv)
    if args.orders is not None and args.orders < 1:
        parser.error("--orders must be at least 1")
    if Path(args.scenario).is_file():  # a file: absolute, since each run starts in its checkout
        args.scenario = str(Path(args.scenario).resolve())
    args.span_ms = round(args.hours * HOUR_MS)
    if args.span_ms < 1_000:
        parser.error("--hours must cover at least one simulated second")
    if args.base is not None and not (args.base / "simulator").is_dir():
        parser.error(f"--base {args.base} is not a checkout (no simulator/ in it)")
    return args


def main(argv: list[str] | None = None, run: Runner | None = None) -> None:
    args = _parse(argv)
    if run is None:
        if shutil.which("valgrind") is None:
            raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
        run = valgrind_run
    count: Callable[[Path], Count]
    if args.orders is not None:
        print(f"instructions of {args.orders:,} order ops through the exchange (cachegrind, each)")
        count = functools.partial(per_op, run, ops=args.orders)
        unit = "op"
    else:
        print(
            f"instructions of advancing {args.hours:g} simulated hours of {args.scenario!r} "
            f"(cachegrind, per simulated hour)"
        )
        count = functools.partial(per_hour, run, scenario=args.scenario, span_ms=args.span_ms)
        unit = "sim_hour"
    ours = count(ROOT)
    print(f"{'this checkout':<28} {ours.instructions:>16,} {ours.events:>10,} events")
    if args.orders is not None:
        result = f"instructions_per_op={ours.instructions} ops={args.orders} events={ours.events}"
    else:
        result = f"instructions_per_sim_hour={ours.instructions} events_per_sim_hour={ours.events}"
    if args.base is not None:
        base = count(args.base.resolve())
        print(f"{args.base!s:<28} {base.instructions:>16,} {base.events:>10,} events")
        ratio = ours.instructions / base.instructions if base.instructions else float("inf")
        print(f"ratio this / base: {ratio:.4f}")
        if base.events != ours.events:
            print("note: the two checkouts published different numbers of events")
        result += f" base_instructions_per_{unit}={base.instructions} ratio_vs_base={ratio:.4f}"
    print(f"RESULT {result}")


if __name__ == "__main__":
    main()
