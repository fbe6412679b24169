"""Drive an exchange's timers from a running event loop (wall and accelerated clocks).

With a manual clock time moves only through `Exchange.advance`. With a wall or accelerated
clock, something must fire timers as real time passes: `drive` sleeps until the next timer is
due (scaled by the clock's speed), fires every due timer with `Exchange.run_due`, and repeats
until stopped. It runs on the exchange's own event loop, so timers and commands never overlap.
`drive_current` does the same for whichever exchange a callable returns at each step, for a
runtime whose exchange is replaced on reset or state import.

Timers that are overdue when the driver wakes (start-up, a busy loop, a high speed factor) fire
one instant at a time with the clock held at that instant (when it is a `HeldClock`, as in a
runtime), exactly as `Exchange.advance` fires them on a manual clock: every timer sees its own
due time as "now", never a later one.

Lag: `lag_ms` is how far the clock's source is ahead of the oldest timer not fired yet, in
simulated ms (0 while the driver keeps up; `GET /sim/v1/clock` shows it as `lag_ms`). A driver
given a `LagWatch` never falls behind silently: once the lag passes its threshold (by default
one second of real time: 1,000 x speed simulated ms, at least 1,000) it logs a warning on the
`perps_sim.clock` logger, at most one per `every_s` (10 s of wall time) while behind, and an
info line when it is back under the threshold after a warning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from simulator.core.clock import WallTime, wall_seconds
from simulator.core.command_log import HeldClock
from simulator.server import log_text

if TYPE_CHECKING:
    from simulator.exchange import Exchange

__all__ = ["LagWatch", "drive", "drive_current", "fire_due", "lag_ms", "position"]

_LOG = logging.getLogger("perps_sim.clock")

Sleep = Callable[[float], Awaitable[object]]


async def drive(
    exchange: Exchange,
    stop: asyncio.Event,
    *,
    speed: float = 1.0,
    max_sleep_s: float = 0.5,
    sleep: Sleep | None = None,
) -> None:
    """Fire the exchange's timers as the clock reaches them until `stop` is set.

    Args:
        exchange: The exchange whose timers to fire.
        stop: Set it to end the loop.
        speed: Simulated milliseconds per real millisecond (the accelerated clock's factor).
        max_sleep_s: Longest real sleep between checks, so commands that arm earlier timers
            are noticed promptly.
        sleep: The sleep function (tests pass one that moves a fake clock instead).
    """
    await drive_current(lambda: exchange, stop, speed=speed, max_sleep_s=max_sleep_s, sleep=sleep)


async def drive_current(
    current: Callable[[], Exchange],
    stop: asyncio.Event,
    *,
    speed: float = 1.0,
    max_sleep_s: float = 0.5,
    sleep: Sleep | None = None,
    watch: LagWatch | None = None,
) -> None:
    """`drive` for the exchange `current()` returns at each step (it may be replaced).

    A replacement is picked up at the next step, at most `max_sleep_s` later. `watch` is told
    the lag after every step.
    """
    if speed <= 0:
        raise ValueError(f"speed must be positive, was {speed}")
    pause = sleep or asyncio.sleep
    while not stop.is_set():
        exchange = current()
        behind = fire_due(exchange)
        if watch is not None:
            watch.observe(lag_ms(exchange) if behind else 0)
        if behind:
            await pause(0)  # behind: let requests and signals in, then catch up
            continue
        due = exchange.next_timer()
        wait_s = max_sleep_s
        if due is not None:
            wait_s = min(max_sleep_s, max(0.0, (due - exchange.now()) / 1000 / speed))
        await pause(wait_s)


def fire_due(exchange: Exchange, max_instants: int = 64) -> bool:
    """Fire timers due by now, each due instant with the clock held at that instant.

    At most `max_instants` instants are fired, so a driver that fell behind (a high speed
    factor, a busy machine) still yields to requests and signals between batches. Returns
    whether due timers remain.
    """
    clock = exchange.clock
    if not isinstance(clock, HeldClock) or clock.held is not None:
        exchange.run_due()
        return False
    now = clock.source.now_ms()
    for _ in range(max_instants):
        due = exchange.next_timer()
        if due is None or due > now:
            return False
        clock.held = due
        try:
            exchange.run_due()
        finally:
            clock.held = None
    due = exchange.next_timer()
    return due is not None and due <= now


def lag_ms(exchange: Exchange) -> int:
    """Simulated ms from the oldest timer not fired yet to the clock's source now (0 if none)."""
    return position(exchange)[1]


def position(exchange: Exchange) -> tuple[int, int]:
    """(the simulated ms the exchange has reached, `lag_ms`): the clock's source now less the
    lag, the instant up to which every due timer has fired."""
    clock = exchange.clock
    now = clock.source.now_ms() if isinstance(clock, HeldClock) else clock.now_ms()
    due = exchange.next_timer()
    lag = 0 if due is None or due >= now else now - due
    return now - lag, lag


class LagWatch:
    """Logs when the driver falls behind the clock and when it catches up.

    Args:
        speed: The clock's speed (simulated ms per real ms); sets the default threshold.
        wall: Real elapsed seconds, for the rate limit (tests pass a fake).
        threshold_ms: Lag (simulated ms) above which the driver is behind; default one second
            of real time, `max(1_000, 1_000 * speed)`.
        every_s: Least wall time between two warnings.

    Attributes:
        behind: The last lag seen was above the threshold.
        worst_ms: The largest lag seen since the driver last fell behind.
    """

    def __init__(
        self,
        speed: float = 1.0,
        *,
        wall: WallTime = wall_seconds,
        threshold_ms: int | None = None,
        every_s: float = 10.0,
    ) -> None:
        self.speed = speed
        self.wall = wall
        self.threshold_ms = (
            max(1_000, round(1_000 * speed)) if threshold_ms is None else threshold_ms
        )
        self.every_s = every_s
        self.behind = False
        self.worst_ms = 0
        self._warned_s: float | None = None
        self._episode_warned = False

    def observe(self, lag: int) -> None:
        """The driver's lag after a step, in simulated ms."""
        if lag > self.threshold_ms:
            if not self.behind:
                self.behind = True
                self.worst_ms = 0
                self._episode_warned = False
            self.worst_ms = max(self.worst_ms, lag)
            now = self.wall()
            if self._warned_s is None or now - self._warned_s >= self.every_s:
                self._warned_s = now
                self._episode_warned = True
                _LOG.warning(
                    "the exchange cannot keep up with the %s clock: timers fire %s of simulated "
                    "time late (%s); events and prices arrive late",
                    "wall" if self.speed == 1 else log_text.clock_speed(self.speed),
                    log_text.span(lag),
                    f"threshold {log_text.span(self.threshold_ms)}",
                )
        elif self.behind:
            self.behind = False
            if self._episode_warned:
                _LOG.info(
                    "the exchange caught up with the clock (worst lag %s)",
                    log_text.span(self.worst_ms),
                )
