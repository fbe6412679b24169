"""Count the instructions a scenario's advance executes: a speed comparison that does not drift.

    .venv/bin/python benchmarks/instructions.py [--hours 1] [--scenario default]
                                                [--base CHECKOUT]

Wall-clock timings on a shared two-core VM move by 15-40 % between runs of the same code, so
two commits a few percent apart cannot be told apart by timing them. Instruction counts can.
Each measurement runs a small workload (build the scenario on a manual clock, advance 1 s,
then advance `--hours`) in a fresh interpreter under valgrind's cachegrind (`--cache-sim=no`,
`PYTHONHASHSEED=0`), once with an advance of 0 and once of the span; the difference is what
the advance executed, without start-up and imports. Repeated counts of the same checkout agree
to within about 0.001 %.

With `--base CHECKOUT` (another checkout's directory, e.g. made by
`git worktree add /tmp/base HEAD~1`) the same is counted there (`PYTHONPATH` pointing at it,
this checkout's interpreter) and the ratio printed. Instructions are not time (cache misses and
allocation weigh differently), so a wall-clock benchmark (`bench_time_travel.py`) still has
the last word on a large change; the sign and size of a small one shows here first. Pair it
with `benchmarks/identity.py`, which shows that the change altered no result.

Needs `valgrind` (Debian: `apt-get install valgrind`). It runs about 50 times slower than the
interpreter alone: about a minute for an hour of `default`. Prints the instructions and events
per simulated hour of each checkout; the last line is machine-readable:

    RESULT instructions_per_sim_hour=<int> events_per_sim_hour=<int>
           [base_instructions_per_sim_hour=<int> ratio_vs_base=<float>]  (one line)
"""

from __future__ import annotations

import argparse
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
from simulator.core.clock import ManualClock
from simulator.server.scenarios import build_exchange, load_scenario
scenario = load_scenario(sys.argv[1])
exchange = build_exchange(scenario, ManualClock(scenario.start_ms))
exchange.advance(1_000)
gc.collect()
before = exchange.journal.last_seq
exchange.advance(int(sys.argv[2]))
print("events", exchange.journal.last_seq - before)
"""

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
_EVENTS = re.compile(r"^events (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Count:
    """What one run of the workload executed, and the events its advance published."""

    instructions: int
    events: int


Runner = Callable[[Path, str, int], Count]


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


def command(scenario: str, ms: int) -> list[str]:
    """The valgrind command line of one run of the workload."""
    return [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-c",
        WORKLOAD,
        scenario,
        str(ms),
    ]


def environment(checkout: Path) -> dict[str, str]:
    """The workload's environment: `checkout` first on the path, fixed hashing, no bytecode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(checkout), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    return env


def valgrind_run(checkout: Path, scenario: str, ms: int) -> Count:
    """Run the workload under cachegrind in `checkout` (the default `Runner`)."""
    done = subprocess.run(
        command(scenario, ms),
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
    idle = run(checkout, scenario, 0)
    busy = run(checkout, scenario, span_ms)
    return Count(
        round((busy.instructions - idle.instructions) * HOUR_MS / span_ms),
        round(busy.events * HOUR_MS / span_ms),
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="simulated span (default 1)")
    parser.add_argument(
        "--scenario", default="default", help="scenario name or file (default: default)"
    )
    parser.add_argument("--base", type=Path, help="another checkout to count and compare with")
    args = parser.parse_args(argv)
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
    print(
        f"instructions of advancing {args.hours:g} simulated hours of {args.scenario!r} "
        f"(cachegrind, per simulated hour)"
    )
    ours = per_hour(run, ROOT, args.scenario, args.span_ms)
    print(f"{'this checkout':<28} {ours.instructions:>16,} {ours.events:>10,} events")
    fields = f"instructions_per_sim_hour={ours.instructions} events_per_sim_hour={ours.events}"
    if args.base is not None:
        base = per_hour(run, args.base.resolve(), args.scenario, args.span_ms)
        print(f"{args.base!s:<28} {base.instructions:>16,} {base.events:>10,} events")
        ratio = ours.instructions / base.instructions if base.instructions else float("inf")
        print(f"ratio this / base: {ratio:.4f}")
        if base.events != ours.events:
            print("note: the two checkouts published different numbers of events")
        fields += f" base_instructions_per_sim_hour={base.instructions} ratio_vs_base={ratio:.4f}"
    print(f"RESULT {fields}")


if __name__ == "__main__":
    main()
