"""The stats line of a running server: simulated time, achieved speed and what trading did.

`perps-sim serve --stats-interval SECONDS` (wall and accelerated clocks; default 10, 0 = off; a
manual clock logs a summary of each long advance instead, `simulator.server.advancer`) logs one
line on the `perps_sim.stats` logger every interval:

    stats: 2026-06-15T01:00:00.000Z, 60.0x real time over 10.0 s; orders 1234, fills 567,
    funding payments 12, liquidations 0   (one line)

and, on a scenario with replayed references, where each has got (`simulator.server.replays`):
`; replay KXBTCPERP 45.2% (14 of 31 points)`.

The time is the one the exchange has reached (every timer due by then has fired) and the speed
what it achieved: when it cannot keep up with an accelerated clock, the line shows its own
pace, not the clock's, and, while the lag is above the driver's warning threshold
(`simulator.server.clock_driver.LagWatch`), how far it is behind (`, 2h00m00s behind the
clock` after the speed).

`RunStats` is a subscriber of the runtime's event bus. It counts, since the server started
(a reset or state import does not clear the counts; they carry on): orders (each
`OrderUpdated` that creates an order), fills (each `FillExecuted`: one per side of a trade),
funding payments (`FundingPaid`) and liquidations (each `LiquidationStep` that starts one).
The speed is the simulated time reached over the real time since the previous line. `report`
is the loop that logs it; time and sleep are injected so tests never sleep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from simulator.core.bus import Batch, Reset
from simulator.core.clock import WallTime, wall_seconds
from simulator.core.events import FillExecuted, FundingPaid, LiquidationStep, OrderUpdated
from simulator.server import log_text

__all__ = ["RunStats", "report"]

_LOG = logging.getLogger("perps_sim.stats")


class RunStats:
    """Counts of the runtime's events since the server started, and the stats line.

    Args:
        wall: Real elapsed seconds (tests pass a fake).
        lag_threshold_ms: Lag (simulated ms) from which a line says how far behind the clock
            the exchange is; the driver's `LagWatch.threshold_ms` (a timer that came due a
            moment ago is not falling behind).
    """

    def __init__(self, wall: WallTime = wall_seconds, lag_threshold_ms: int = 0) -> None:
        self.wall = wall
        self.lag_threshold_ms = lag_threshold_ms
        self.orders = 0
        self.fills = 0
        self.funding_payments = 0
        self.liquidations = 0
        self._last: tuple[float, int] | None = None  # (wall s, simulated ms) of the last line

    def deliver(self, batch: Batch, /) -> None:
        for _, event in batch:
            if isinstance(event, OrderUpdated):
                self.orders += event.created
            elif isinstance(event, FillExecuted):
                self.fills += 1
            elif isinstance(event, FundingPaid):
                self.funding_payments += 1
            elif isinstance(event, LiquidationStep):
                self.liquidations += event.stage == "started"

    def reset(self, notice: Reset, /) -> None:
        pass  # the counts are the server's since it started: they carry on

    def start(self, now_ms: int) -> None:
        """Where the first line's speed is measured from."""
        self._last = (self.wall(), now_ms)

    def line(self, now_ms: int, lag_ms: int = 0) -> str:
        """The stats line with the exchange at simulated `now_ms`, `lag_ms` behind its clock
        (and the start of the next interval)."""
        now_s = self.wall()
        rate = ""
        if self._last is not None:
            last_s, last_ms = self._last
            elapsed = now_s - last_s
            factor = (now_ms - last_ms) / (elapsed * 1_000) if elapsed > 0 else None
            rate = f", {log_text.speed(factor)} over {log_text.wall(max(elapsed, 0.0))}"
        if lag_ms > self.lag_threshold_ms:
            rate += f", {log_text.span(lag_ms)} behind the clock"
        self._last = (now_s, now_ms)
        return (
            f"stats: {log_text.instant(now_ms)}{rate}; orders {self.orders}, fills {self.fills}, "
            f"funding payments {self.funding_payments}, liquidations {self.liquidations}"
        )


Sleep = Callable[[float], Awaitable[object]]


async def report(
    stats: RunStats,
    position: Callable[[], tuple[int, int]],
    interval_s: float,
    *,
    sleep: Sleep | None = None,
    extra: Callable[[], str] | None = None,
) -> None:
    """Log `stats.line` every `interval_s` until cancelled.

    `position()` is where the exchange is: (the simulated ms it has reached, its lag behind
    the clock in ms), as `simulator.server.clock_driver.position` gives them. `extra()`, when
    it says something, ends the line after `; ` (the replays' progress).
    """
    if interval_s <= 0:
        raise ValueError(f"interval must be positive, was {interval_s}")
    pause = sleep or asyncio.sleep
    stats.start(position()[0])
    while True:
        await pause(interval_s)
        line = stats.line(*position())
        more = extra() if extra is not None else ""
        _LOG.info("%s", f"{line}; {more}" if more else line)
