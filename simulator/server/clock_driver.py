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
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from simulator.core.command_log import HeldClock

if TYPE_CHECKING:
    from simulator.exchange import Exchange

__all__ = ["drive", "drive_current", "fire_due"]

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
) -> None:
    """`drive` for the exchange `current()` returns at each step (it may be replaced).

    A replacement is picked up at the next step, at most `max_sleep_s` later.
    """
    if speed <= 0:
        raise ValueError(f"speed must be positive, was {speed}")
    pause = sleep or asyncio.sleep
    while not stop.is_set():
        exchange = current()
        if fire_due(exchange):
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
