"""Time travel that never freezes the server: a long `advance` run in slices on the event loop.

`POST /sim/v1/clock/advance` moves a manual clock by up to 7 days, and the work grows with the
span (seconds for a simulated day of the default scenario). Run as one call it would hold the
one event loop (DESIGN.md 1) all that time: no request, WebSocket ping or FIX heartbeat would be
served. The runtime's `Advancer` runs it as a task instead: `Exchange.advance(slice_ms)`, then
a yield to the loop so that everything waiting runs, until the target is reached. The yield is
`YIELDS` (3) zero sleeps in a row, not one: after the first, the loop polls the sockets, but the
task of a request read in that poll is queued behind the advance's next step; the two more turns
let it run before the next slice instead of after it (`benchmarks/bench_time_travel.py
--quick`: health answered in about 14 ms at the median instead of about 60, with no idle wait).
The last slice does not yield. Between slices it also waits while a client's send queue is full
(`simulator.server.pacing`): a slow reader paces the advance instead of being disconnected.

Same result: each slice is an ordinary `advance` command (journaled as an entry of its own).
`advance(a)` then `advance(b)` fires the same timers at the same instants as `advance(a + b)`
(timers due at the boundary fire in the first), so the events and the state hash do not depend
on where the slices end (`tests/simulator/server/test_advancer.py` checks 8 simulated hours of
the default scenario, sliced and whole).

Slice length (`AdvancePlan`, no I/O): the first slice is `first_slice_ms` (1 simulated second);
each next one aims at `slice_work_s` (20 ms) of work from the cost per simulated ms just
measured, at most `max_growth` (4) times the last one, shrinking at once. Real time comes from
an injected `WallTime`, so tests use a fake one. Slice boundaries depend on wall time; the
result does not.

The gate (one object per runtime, `Runtime.advancer`). While an advance runs:

- reads are served between slices: REST and control-plane GETs, WebSocket subscriptions and
  pings, FIX sessions (heartbeats, test requests), market data and drop copy;
- a state-changing request waits for the advance to end and then runs at the final time
  (`wait_idle`): the REST and control-plane choke point is `api.advance_gate`, FIX order entry
  queues per connection in `fix_acceptor.server`. A write already running when an advance
  starts finishes first: the first slice waits until no write is in flight (`enter_write`,
  `exit_write`);
- another advance, a reset and a state import are refused (`AdvanceInProgressError`, 409
  `advance_in_progress` on the control plane).

Assumption: with `--auth open`, the account a new key id gets on its first request (a read
too) is created when that request is served, between slices if an advance runs.

Logging (logger `perps_sim.advance`): an advance still running after `report_after_s` (1 s) of
wall time logs a progress line at info then and every `report_every_s` (2 s): percent,
simulated time reached, achieved speed, ETA. Every advance that took `report_after_s` or more
ends with a summary line at info (simulated span, wall time, speed, slices, the events it
produced by kind, counted from the journal after each slice); shorter ones log it at debug.
Both end with where each replayed reference has got (`simulator.server.replays`), if any.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.core.clock import WallTime, wall_seconds
from simulator.server import log_text, replays
from simulator.server.pacing import Pacer

if TYPE_CHECKING:
    from simulator.exchange import Exchange

__all__ = [
    "FIRST_SLICE_MS",
    "SLICE_WORK_S",
    "AdvanceInProgressError",
    "AdvancePlan",
    "Advancer",
]

_LOG = logging.getLogger("perps_sim.advance")

FIRST_SLICE_MS = 1_000
"""Simulated length of an advance's first slice."""
SLICE_WORK_S = 0.020
"""Real time each slice aims to take."""
MAX_GROWTH = 4
"""Most a slice grows over the one before."""
REPORT_AFTER_S = 1.0
REPORT_EVERY_S = 2.0
YIELDS = 3


class AdvanceInProgressError(Exception):
    """An advance is running: another advance, a reset or a state import must wait for it."""

    code = "advance_in_progress"

    def __init__(self, plan: AdvancePlan, what: str) -> None:
        self.plan = plan
        super().__init__(
            f"an advance to {plan.target_ms} is running ({plan.percent():.1f}% done); {what} "
            "must wait for it to finish (GET /sim/v1/clock shows its progress)"
        )


@dataclass(slots=True)
class AdvancePlan:
    """One advance: where it goes, how far it got, how long its slices are. No I/O.

    Attributes:
        start_ms: The simulated instant it started from.
        target_ms: Where it ends.
        started_s: Wall time when it started (`WallTime` seconds).
        slice_ms: Simulated length of the next slice.
        reached_ms: How far the slices done so far moved the clock.
        slices: Slices done.
        work_s: Wall time spent in slices.
        kinds: Events produced so far, by event class.
        unretained: Events produced but dropped by the journal's retention before they were
            counted (only with a tiny `journal_retain`).
        paced_s: Wall time spent waiting between slices for slow readers (`Pacer`).
        pacing: Whether it still waits for them (False once a reader stalled).
    """

    start_ms: int
    target_ms: int
    started_s: float
    slice_ms: int = FIRST_SLICE_MS
    slice_work_s: float = SLICE_WORK_S
    max_growth: int = MAX_GROWTH
    reached_ms: int = -1
    slices: int = 0
    work_s: float = 0.0
    kinds: Counter[type] = field(default_factory=Counter)
    unretained: int = 0
    next_report_s: float = 0.0
    paced_s: float = 0.0
    pacing: bool = True

    def __post_init__(self) -> None:
        if self.target_ms < self.start_ms:
            raise ValueError(f"target {self.target_ms} is before the start {self.start_ms}")
        if self.reached_ms < 0:
            self.reached_ms = self.start_ms
        self.slice_ms = max(1, self.slice_ms)

    @property
    def done(self) -> bool:
        return self.reached_ms >= self.target_ms

    @property
    def span_ms(self) -> int:
        return self.target_ms - self.start_ms

    def next_slice(self) -> int:
        """Simulated ms of the next slice (never past the target)."""
        return min(self.slice_ms, self.target_ms - self.reached_ms)

    def record(self, ms: int, elapsed_s: float) -> None:
        """A slice of `ms` took `elapsed_s`: move on and size the next slice."""
        self.reached_ms += ms
        self.slices += 1
        self.work_s += elapsed_s
        grown = self.slice_ms * self.max_growth
        if elapsed_s <= 0:
            self.slice_ms = grown
            return
        ideal = round(ms * self.slice_work_s / elapsed_s)
        self.slice_ms = max(1, min(ideal, grown))

    def count(self, events: list[Any], produced: int) -> None:
        """Count a slice's events (`produced` of them, `events` those still in the journal)."""
        self.kinds.update(map(type, events))
        self.unretained += produced - len(events)

    def percent(self) -> float:
        """Share of the span done, 0 to 100 (100 for an empty span)."""
        if self.span_ms == 0:
            return 100.0
        return 100.0 * (self.reached_ms - self.start_ms) / self.span_ms

    def speed(self, now_s: float) -> float | None:
        """Simulated ms per wall ms so far (None before any time passed)."""
        elapsed = now_s - self.started_s
        if elapsed <= 0 or self.reached_ms == self.start_ms:
            return None
        return (self.reached_ms - self.start_ms) / (elapsed * 1_000)

    def eta_ms(self, now_s: float) -> int | None:
        """Wall ms until the target at the speed so far (None until it is known)."""
        if self.done:
            return 0
        rate = self.speed(now_s)
        if rate is None:
            return None
        return round((self.target_ms - self.reached_ms) / rate)

    def progress(self, now_s: float) -> dict[str, Any]:
        """The control plane's `advance` object."""
        return {
            "target_ms": self.target_ms,
            "reached_ms": self.reached_ms,
            "percent": round(self.percent(), 1),
            "eta_ms": self.eta_ms(now_s),
        }

    def events_by_kind(self) -> dict[str, int]:
        """`kinds` by event name (the `type` of each event on the wire)."""
        named = {kind.__name__: count for kind, count in self.kinds.items()}
        if self.unretained:
            named["unretained"] = self.unretained
        return named


class Advancer:
    """Runs a runtime's advances in slices, and is the gate writes wait at while one runs.

    Args:
        wall: Real elapsed seconds (tests pass a fake).
        first_slice_ms: Simulated length of each advance's first slice.
        slice_work_s: Real time each slice aims to take.
        report_after_s: Wall time after which an advance logs progress and its summary at info.
        report_every_s: Wall time between progress lines.
        pacer: Waits between slices while a transport's send queue is full
            (`simulator.server.pacing`); default one on `wall`.

    Attributes:
        running: The advance under way, or None.
        pacer: Where transports register their backlogs.
    """

    def __init__(
        self,
        wall: WallTime = wall_seconds,
        *,
        first_slice_ms: int = FIRST_SLICE_MS,
        slice_work_s: float = SLICE_WORK_S,
        report_after_s: float = REPORT_AFTER_S,
        report_every_s: float = REPORT_EVERY_S,
        pacer: Pacer | None = None,
    ) -> None:
        self.wall = wall
        self.pacer = pacer if pacer is not None else Pacer(wall)
        self.first_slice_ms = first_slice_ms
        self.slice_work_s = slice_work_s
        self.report_after_s = report_after_s
        self.report_every_s = report_every_s
        self.running: AdvancePlan | None = None
        self._task: asyncio.Task[None] | None = None
        self._writes = 0
        self._quiet: asyncio.Future[None] | None = None

    @property
    def writes(self) -> int:
        """State-changing requests in flight (`enter_write` .. `exit_write`)."""
        return self._writes

    def check_idle(self, what: str) -> None:
        """Raise `AdvanceInProgressError` naming `what` if an advance runs."""
        if self.running is not None:
            raise AdvanceInProgressError(self.running, what)

    def start(self, exchange: Exchange, ms: int) -> AdvancePlan:
        """Start advancing `exchange`'s manual clock by `ms` on the running loop.

        Raises:
            AdvanceInProgressError: Another advance is running.
        """
        self.check_idle("another advance")
        now = exchange.now()
        plan = AdvancePlan(
            now,
            now + ms,
            self.wall(),
            slice_ms=self.first_slice_ms,
            slice_work_s=self.slice_work_s,
        )
        plan.next_report_s = plan.started_s + self.report_after_s
        task = asyncio.get_running_loop().create_task(self._run(exchange, plan))
        task.add_done_callback(_log_failure)
        self.running = plan
        self._task = task
        return plan

    async def wait(self) -> None:
        """Wait for the running advance (if any) to end; raise what it raised.

        Cancelling the waiter does not stop the advance.
        """
        task = self._task
        if task is not None:
            await asyncio.wait({task})
            if not task.cancelled():
                error = task.exception()
                if error is not None:
                    raise error

    async def wait_idle(self) -> None:
        """Return once no advance runs (a later advance may start as soon as this returns)."""
        while (task := self._task) is not None:
            await asyncio.wait({task})

    def enter_write(self) -> None:
        """A state-changing request starts (call right after `wait_idle`, with no await between)."""
        self._writes += 1

    def exit_write(self) -> None:
        """The request of `enter_write` is done."""
        self._writes -= 1
        quiet = self._quiet
        if self._writes == 0 and quiet is not None and not quiet.done():
            quiet.set_result(None)

    async def aclose(self) -> None:
        """Stop a running advance at its next slice boundary (server shutdown)."""
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self, exchange: Exchange, plan: AdvancePlan) -> None:
        wall = self.wall
        try:
            if self._writes:
                self._quiet = asyncio.get_running_loop().create_future()
                try:
                    await self._quiet
                finally:
                    self._quiet = None
            journal = exchange.journal
            advance = exchange.advance
            while not plan.done:
                ms = plan.next_slice()
                mark = journal.last_seq
                started = wall()
                advance(ms)
                plan.count(journal.events_after(mark), journal.last_seq - mark)
                now = wall()
                plan.record(ms, now - started)
                if now >= plan.next_report_s:
                    self._progress(plan, now, exchange)
                    plan.next_report_s = now + self.report_every_s
                if not plan.done:
                    for _ in range(YIELDS):
                        await asyncio.sleep(0)
                    if plan.pacing:
                        await self._pace(plan)
        finally:
            self.running = None
            self._task = None
            self._summary(plan, wall(), exchange)

    async def _pace(self, plan: AdvancePlan) -> None:
        waited = await self.pacer.wait()
        plan.paced_s += waited.seconds
        if waited.stalled:
            plan.pacing = False
            _LOG.warning(
                "a client's send queue has not shrunk for %s while the advance waited for it: "
                "the advance goes on without waiting (a WebSocket connection is ended when its "
                "queue is full, a FIX connection when its unread bytes pass max_unsent_bytes)",
                log_text.wall(self.pacer.stall_s),
            )

    def _progress(self, plan: AdvancePlan, now_s: float, exchange: Exchange) -> None:
        eta = plan.eta_ms(now_s)
        _LOG.info(
            "advance %.1f%%: %s of %s simulated (now %s), %s, ETA %s%s",
            plan.percent(),
            log_text.span(plan.reached_ms - plan.start_ms),
            log_text.span(plan.span_ms),
            log_text.instant(plan.reached_ms),
            log_text.speed(plan.speed(now_s)),
            "?" if eta is None else log_text.wall(eta / 1_000),
            _replays(exchange),
        )

    def _summary(self, plan: AdvancePlan, now_s: float, exchange: Exchange) -> None:
        elapsed = now_s - plan.started_s
        level = logging.INFO if elapsed >= self.report_after_s else logging.DEBUG
        if not _LOG.isEnabledFor(level):
            return
        moved = plan.reached_ms - plan.start_ms
        state = "done" if plan.done else f"stopped at {plan.percent():.1f}%"
        paced = f", {log_text.wall(plan.paced_s)} waiting for slow readers" if plan.paced_s else ""
        _LOG.log(
            level,
            "advance of %s %s: %s simulated in %s wall (%s, %d slices%s), now %s; events %s%s",
            log_text.span(plan.span_ms),
            state,
            log_text.span(moved),
            log_text.wall(elapsed),
            log_text.speed(plan.speed(now_s)),
            plan.slices,
            paced,
            log_text.instant(plan.reached_ms),
            log_text.counts(plan.events_by_kind()),
            _replays(exchange),
        )


def _replays(exchange: Exchange) -> str:
    # where each replayed reference has got, after the line's own text (nothing without one)
    text = replays.progress_now(exchange)
    return f"; {text}" if text else ""


def _log_failure(task: asyncio.Task[None]) -> None:
    # a failed slice is a bug; whoever waited got the exception too, this is for `wait: false`
    if not task.cancelled() and (error := task.exception()) is not None:
        _LOG.error("advance failed", exc_info=error)
