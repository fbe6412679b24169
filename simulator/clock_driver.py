"""Drive an exchange's timers from a running event loop (wall and accelerated clocks).

With a manual clock time moves only through `Exchange.advance`. With a wall or accelerated
clock, something must fire timers as real time passes: `drive` sleeps until the next timer is
due (scaled by the clock's speed), fires every due timer with `Exchange.run_due`, and repeats
until stopped. It runs on the exchange's own event loop, so timers and commands never overlap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.exchange import Exchange

__all__ = ["drive"]

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
    if speed <= 0:
        raise ValueError(f"speed must be positive, was {speed}")
    pause = sleep or asyncio.sleep
    while not stop.is_set():
        exchange.run_due()
        due = exchange.next_timer()
        wait_s = max_sleep_s
        if due is not None:
            wait_s = min(max_sleep_s, max(0.0, (due - exchange.now()) / 1000 / speed))
        await pause(wait_s)
