"""Benchmark time travel as a user does it: `POST /sim/v1/clock/advance` on a real server.

    .venv/bin/python benchmarks/bench_time_travel.py [--quick] [--days 7] [--poll-ms 50]

Each server is a `perps-sim serve --clock manual --port 0` subprocess with a ready file
(`benchmarks/served.py`); one keep-alive `httpx.Client` sends the advances.

- default scenario (three markets on seeded random walks, the house market maker re-centring
  every 5 s, funding, marks, tickers): advance 8 h, then 24 h, each timed from request to
  response. Meanwhile a second client on its own connection (a thread) polls
  `GET /sim/v1/health` every `--poll-ms` and records the worst response time: an advance runs
  in slices of about 20 ms of work (`simulator/server/advancer.py`) with the loop serving
  requests between them, so this is how long a client waits during time travel.
- then a simulated week (`--days`) in 1-day advances, reading the server's RSS
  (`/proc/<pid>/status` VmRSS) before and after: its growth per simulated day.
- baselines measured in the same run: the same 8 h advance on a `bare` server (no feeds move,
  no maker: the floor of the control plane and the timers), and the same 8 h of the default
  scenario through `Exchange.advance` in this process (no HTTP, no server).
- three floors of those 8 h, in this process: `default` without its market maker (feeds,
  marks, premium, funding and tickers of three markets on empty books); the maker's order
  changes of those 8 h (recorded from the journal of an untimed run) replayed on bare
  `matching.OrderBook`s, with nothing of the exchange around them; and the maker's events of
  those 8 h (order updates with their snapshots, book deltas) built from their recorded fields
  and appended to a list. Their sum is what the 8 h would still take if every other part of a
  re-quote (checks, risk, order records, follow-ups) cost nothing.

`--quick` shortens every span 16-fold (30 min, 90 min, 1.5 h "days"); the RESULT figures are
then those of the shorter spans. Prints a table of advance times, throughput in simulated
seconds per wall second, and health-poll latencies; the last line is machine-readable:

    RESULT advance_8h_ms=<float> advance_24h_ms=<float> max_health_ms=<float>
           rss_mb_per_sim_day=<float>  (one line)
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter, sleep
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import msgspec

from benchmarks.harness import machine_load, python_version
from benchmarks.served import Served, serve_subprocess
from matching import OrderBook, Side
from simulator.core.clock import ManualClock
from simulator.core.events import BookDelta, OrderSnapshot, OrderUpdated
from simulator.server.scenarios import Scenario, build_exchange, load_scenario

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
QUICK_DIVISOR = 16
DEFAULT_DAYS = 7
DEFAULT_POLL_MS = 50
TIMEOUT_S = 900.0
TARGET_8H_MS = 1_000.0
TARGET_24H_MS = 3_000.0
TARGET_WEEK_MS = 20_000.0
TARGET_BARE_8H_MS = 300.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: every span {QUICK_DIVISOR}x shorter"
    )
    parser.add_argument(
        "--days",
        type=int,
        default=DEFAULT_DAYS,
        help=f"1-day advances for the RSS phase (default {DEFAULT_DAYS})",
    )
    parser.add_argument(
        "--poll-ms",
        type=int,
        default=DEFAULT_POLL_MS,
        help=f"health poll interval in ms (default {DEFAULT_POLL_MS})",
    )
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.poll_ms < 1:
        parser.error("--poll-ms must be positive")
    args.divisor = QUICK_DIVISOR if args.quick else 1
    return args


@dataclass
class Poller:
    """A thread polling `/sim/v1/health` on its own keep-alive connection."""

    control_url: str
    interval_s: float
    polls: list[tuple[float, float]] = field(default_factory=list)  # (sent, answered) s
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def during(self, start: float, end: float) -> list[float]:
        """Response times (ms) of the polls in flight at some point of `[start, end]`."""
        return [(b - a) * 1_000 for a, b in list(self.polls) if a <= end and b >= start]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(TIMEOUT_S)

    def _run(self) -> None:
        with httpx.Client(timeout=TIMEOUT_S) as client:
            while not self._stop.is_set():
                t0 = perf_counter()
                try:
                    ok = client.get(f"{self.control_url}/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.polls.append((t0, perf_counter()))
                if not ok:
                    self.failures += 1
                self._stop.wait(self.interval_s)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _advance(client: httpx.Client, control_url: str, ms: int) -> tuple[float, float]:
    """Advance by `ms`; returns when it was sent and answered (perf_counter seconds)."""
    t0 = perf_counter()
    response = client.post(f"{control_url}/clock/advance", json={"ms": ms})
    t1 = perf_counter()
    if response.status_code != 200:
        raise RuntimeError(f"advance {ms} answered {response.status_code}: {response.text}")
    return t0, t1


def _serve(scenario: str) -> Any:
    return serve_subprocess(["--scenario", scenario, "--clock", "manual"], prefix="bench-tt-")


def _served_phase(served: Served, args: argparse.Namespace) -> dict[str, Any]:
    control = str(served.urls["control_url"])
    span_8h, span_24h, day = (s // args.divisor for s in (8 * HOUR_MS, 24 * HOUR_MS, DAY_MS))
    poller = Poller(control, args.poll_ms / 1_000)
    result: dict[str, Any] = {}
    with httpx.Client(timeout=TIMEOUT_S) as client:
        client.get(f"{control}/health")
        _advance(client, control, 1_000)  # warm the route
        poller.start()
        sleep(0.2)
        spans = {"8h": [_advance(client, control, span_8h)]}
        spans["24h"] = [_advance(client, control, span_24h)]
        rss_start = _rss_kb(served.process.pid)
        spans["week"] = [_advance(client, control, day) for _ in range(args.days)]
        rss_end = _rss_kb(served.process.pid)
        sleep(2 * poller.interval_s)  # let the poll in flight at the end come back
        poller.stop()
    for name, timed in spans.items():
        result[name] = sum((t1 - t0) * 1_000 for t0, t1 in timed)
        result[f"health_{name}"] = poller.during(timed[0][0], timed[-1][1])
    result["days"] = [(t1 - t0) * 1_000 for t0, t1 in spans["week"]]
    result["rss_start_kb"] = rss_start
    result["rss_end_kb"] = rss_end
    result["health_failures"] = poller.failures
    return result


def _bare_8h(args: argparse.Namespace) -> float:
    with _serve("bare") as served, httpx.Client(timeout=TIMEOUT_S) as client:
        control = str(served.urls["control_url"])
        _advance(client, control, 1_000)
        t0, t1 = _advance(client, control, 8 * HOUR_MS // args.divisor)
        return (t1 - t0) * 1_000


def _in_process_8h(args: argparse.Namespace, scenario: Scenario) -> float:
    exchange = build_exchange(scenario, ManualClock(scenario.start_ms))
    exchange.advance(1_000)
    gc.collect()
    t0 = perf_counter()
    exchange.advance(8 * HOUR_MS // args.divisor)
    return (perf_counter() - t0) * 1_000


@dataclass
class MakerFloors:
    """What the maker's part of 8 h costs with nothing of the exchange around it."""

    book_ms: float  # its order changes replayed on bare books
    changes: int
    books_equal: bool  # the replay rebuilt the exchange's books
    events_ms: float  # its events (order updates with their snapshots, book deltas) rebuilt
    events: int


def _maker_floors_8h(args: argparse.Namespace) -> MakerFloors:
    scenario = load_scenario("default")
    assert scenario.liquidity is not None
    maker = scenario.liquidity.user_id
    config = {**scenario.config, "journal_retain": 10_000_000}
    exchange = build_exchange(
        msgspec.structs.replace(scenario, config=config), ManualClock(scenario.start_ms)
    )
    exchange.advance(1_000 + 8 * HOUR_MS // args.divisor)
    ops: list[tuple[str, str, Side, int, int, bool]] = []  # ticker, id, side, price, count, new
    updates: list[OrderUpdated] = []
    deltas: list[BookDelta] = []
    for _, event in exchange.journal.since(0):
        if type(event) is OrderUpdated and event.order.user_id == maker:
            order = event.order
            if order.fill_count:
                raise RuntimeError("the maker traded: its book changes are not all its own")
            ops.append((order.ticker, order.order_id, order.side, order.price,
                        order.remaining_count, event.created))  # fmt: skip
            updates.append(event)
        elif type(event) is BookDelta and event.user_id == maker:
            deltas.append(event)
    books = {ticker: OrderBook() for ticker in exchange.markets}
    gc.collect()
    t0 = perf_counter()
    for ticker, order_id, side, price, remaining, created in ops:
        book = books[ticker]
        if created:
            book.place(order_id, maker, side, price, remaining, post_only=True)
        elif remaining:
            book.amend(order_id, price=price, count=remaining)
        else:
            book.cancel(order_id)
    book_ms = (perf_counter() - t0) * 1_000
    same = all(
        list(books[ticker].levels(side)) == list(data.book.levels(side))
        for ticker, data in exchange.markets.items()
        for side in (Side.BID, Side.ASK)
    )
    return MakerFloors(book_ms, len(ops), same, _rebuild_ms(updates, deltas),
                       len(updates) + len(deltas))  # fmt: skip


def _rebuild_ms(updates: list[OrderUpdated], deltas: list[BookDelta]) -> float:
    """How long building these events from their fields and appending them to a list takes."""
    astuple = msgspec.structs.astuple
    update_args = [(astuple(u.order), u.ts_ms, u.created) for u in updates]
    delta_args = [astuple(d) for d in deltas]
    journal: list[object] = []
    append = journal.append
    gc.collect()
    t0 = perf_counter()
    for fields, ts_ms, created in update_args:
        append(OrderUpdated(ts_ms, OrderSnapshot(*fields), created))
    for fields in delta_args:
        append(BookDelta(*fields))
    return (perf_counter() - t0) * 1_000


def _rate(span_ms: int, wall_ms: float) -> str:
    return f"{span_ms / wall_ms:,.0f}" if wall_ms > 0 else "inf"


def _health(latencies: list[float]) -> str:
    if not latencies:
        return f"{'-':>8} {'-':>8} {0:>6}"
    return f"{statistics.median(latencies):>8.1f} {max(latencies):>8.1f} {len(latencies):>6}"


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    span_8h, span_24h, day = (s // args.divisor for s in (8 * HOUR_MS, 24 * HOUR_MS, DAY_MS))
    print(f"time-travel benchmark on {python_version()} ({sys.executable})")
    print(machine_load())
    print(
        f"perps-sim serve --clock manual subprocesses; advances of {span_8h / HOUR_MS:g} h and "
        f"{span_24h / HOUR_MS:g} h, then {args.days} x {day / HOUR_MS:g} h; health polled every "
        f"{args.poll_ms} ms on a second connection"
        + (f" (--quick: spans / {QUICK_DIVISOR})" if args.quick else "")
    )
    with _serve("default") as served:
        result = _served_phase(served, args)
        log = list(served.log)
    bare_ms = _bare_8h(args)
    default = load_scenario("default")
    in_process_ms = _in_process_8h(args, default)
    no_maker_ms = _in_process_8h(args, msgspec.structs.replace(default, liquidity=None))
    maker = _maker_floors_8h(args)

    week_ms = result["week"]
    week_span = day * args.days
    rss_growth_mb = (result["rss_end_kb"] - result["rss_start_kb"]) / 1_024
    rss_per_day = rss_growth_mb / args.days
    health_all = result["health_8h"] + result["health_24h"] + result["health_week"]
    max_health = max(health_all) if health_all else 0.0

    print()
    header = (
        f"{'advance':<28} {'wall ms':>10} {'sim s / wall s':>15} "
        f"{'health p50':>10} {'max ms':>8} {'polls':>6}"
    )
    print(header)
    print("-" * len(header))
    rows = [
        (f"default {span_8h / HOUR_MS:g} h", span_8h, result["8h"], result["health_8h"]),
        (f"default {span_24h / HOUR_MS:g} h", span_24h, result["24h"], result["health_24h"]),
        (
            f"default {args.days} x {day / HOUR_MS:g} h",
            week_span,
            week_ms,
            result["health_week"],
        ),
    ]
    for label, span, wall, polls in rows:
        print(f"{label:<28} {wall:>10.1f} {_rate(span, wall):>15} {_health(polls)}")
    print(f"{'bare ' + f'{span_8h / HOUR_MS:g} h (baseline)':<28} {bare_ms:>10.1f} "
          f"{_rate(span_8h, bare_ms):>15}")  # fmt: skip
    print(
        f"{'in-process Exchange.advance':<28} {in_process_ms:>10.1f} "
        f"{_rate(span_8h, in_process_ms):>15}"
    )
    print(
        f"{'floor: default, no maker':<28} {no_maker_ms:>10.1f} {_rate(span_8h, no_maker_ms):>15}"
    )
    replay_check = "the books equal the exchange's" if maker.books_equal else "BOOKS DIFFER"
    print(
        f"{'floor: maker on bare books':<28} {maker.book_ms:>10.1f} "
        f"{_rate(span_8h, maker.book_ms):>15}   ({maker.changes:,} order changes; "
        f"{replay_check})"
    )
    print(
        f"{'floor: maker events built':<28} {maker.events_ms:>10.1f} "
        f"{_rate(span_8h, maker.events_ms):>15}   ({maker.events:,} order updates and book "
        "deltas)"
    )
    floors_ms = no_maker_ms + maker.book_ms + maker.events_ms
    print(
        f"floors together: {floors_ms:.1f} ms for {span_8h / HOUR_MS:g} h "
        f"({floors_ms / in_process_ms:.2f} of in-process)"
    )
    print()
    print(
        f"days of the week phase (ms): {', '.join(f'{d:.0f}' for d in result['days'])}; "
        f"RSS {result['rss_start_kb'] / 1_024:.1f} MB -> {result['rss_end_kb'] / 1_024:.1f} MB "
        f"({rss_per_day:+.2f} MB per simulated day)"
    )
    print(
        f"ratios: served default / in-process {result['8h'] / in_process_ms:.2f}x; "
        f"default / bare {result['8h'] / max(bare_ms, 1e-9):.1f}x "
        f"(8 h spans{', shortened' if args.quick else ''})"
    )
    if result["health_failures"]:
        print(f"WARNING: {result['health_failures']} health polls failed")
    if log:
        print(f"WARNING: the server logged {len(log)} lines after its banner; the first:")
        for line in log[:5]:
            print(f"  {line.rstrip()}")
    if not args.quick:
        checks = [
            ("8 h", result["8h"], TARGET_8H_MS),
            ("24 h", result["24h"], TARGET_24H_MS),
            ("week", week_ms * DEFAULT_DAYS / args.days, TARGET_WEEK_MS),
            ("bare 8 h", bare_ms, TARGET_BARE_8H_MS),
        ]
        print(
            "targets: "
            + "; ".join(
                f"{name} under {target:,.0f} ms -> {'MET' if value < target else 'NOT MET'}"
                for name, value, target in checks
            )
        )
    print(
        f"RESULT advance_8h_ms={result['8h']:.3f} advance_24h_ms={result['24h']:.3f} "
        f"max_health_ms={max_health:.3f} rss_mb_per_sim_day={rss_per_day:.3f}"
    )


if __name__ == "__main__":
    main()
