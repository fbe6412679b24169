"""Pacing a long advance to its slowest reader, so that time travel does not drop a client.

An advance (`simulator.server.advancer`) produces hours of market data in seconds: an 8-hour
advance of the default scenario is about 290,000 WebSocket frames for a client subscribed to
every book and ticker, made in 3 s. A client that reads more slowly (a strategy that does real
work per message, kalshi-sdk's parsing) falls behind, its connection's send queue fills, and at
the queue's limit (`send_queue_frames`) the connection is ended with error 25: the dry run loses
its client. On Kalshi the same client would keep up, since the data comes at the pace of real
time.

So between two slices the advancer asks the `Pacer` to wait while a transport's fullest send
queue is above `high` (a share of its limit, 10 %), until it is back to `low` (5 %). Each
transport registers how full its fullest queue is (`add`, a callable returning 0.0 for empty to
1.0 at the limit); the WebSocket hub does while it has connections, and the FIX acceptor
while it listens (its connections' write buffers against `--fix pace_bytes`). The
advance's result does not change (slices never change it), only when its slices run.

A reader that stopped reading must not hold an advance forever: when the fullest queue has not
shrunk for `stall_s` (10 s) of wall time, `wait` gives up and says so, and the advancer stops
pacing that advance (a WebSocket queue may then overflow as before; a FIX connection's buffer
grows: FIX writes are never refused).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from simulator.core.clock import WallTime, wall_seconds

__all__ = ["HIGH", "LOW", "STALL_S", "Backlog", "Pacer", "Waited"]

HIGH = 0.10
"""A send queue this full (of its limit) pauses the advance between slices..."""
LOW = 0.05
"""...until it is back to this."""
POLL_S = 0.005
"""How often a paused advance looks again."""
STALL_S = 10.0
"""Wall seconds without the fullest queue shrinking after which a pause gives up."""

Backlog = Callable[[], float]
"""How full a transport's fullest send queue is: 0.0 empty, 1.0 at its limit."""
Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Waited:
    """What one `Pacer.wait` did: wall seconds waited, and whether it gave up on a stall."""

    seconds: float = 0.0
    stalled: bool = False


class Pacer:
    """The backlogs of the transports, and the wait between two slices of an advance.

    Args:
        wall: Real elapsed seconds (tests pass a fake).
        sleep: How to wait `POLL_S` (tests pass one that moves their fake wall clock).
        high, low, stall_s, poll_s: See the module docstring.
    """

    def __init__(
        self,
        wall: WallTime = wall_seconds,
        *,
        sleep: Sleep | None = None,
        high: float = HIGH,
        low: float = LOW,
        stall_s: float = STALL_S,
        poll_s: float = POLL_S,
    ) -> None:
        if not 0 <= low < high:
            raise ValueError(f"low must be in [0, high), was {low} with high {high}")
        self.wall = wall
        self.high = high
        self.low = low
        self.stall_s = stall_s
        self.poll_s = poll_s
        self._sleep = sleep or asyncio.sleep
        self._sources: dict[int, Backlog] = {}
        self._keys = itertools.count()

    def add(self, backlog: Backlog) -> Callable[[], None]:
        """Pace advances by `backlog` too; returns the function that stops it."""
        key = next(self._keys)
        self._sources[key] = backlog

        def remove() -> None:
            self._sources.pop(key, None)

        return remove

    def fullest(self) -> float:
        """The fullest send queue of every registered transport (0.0 without any)."""
        return max((backlog() for backlog in self._sources.values()), default=0.0)

    async def wait(self) -> Waited:
        """Return at once below `high`, else once the fullest queue is down to `low`, or has
        not shrunk for `stall_s` (then `stalled`)."""
        fullest = self.fullest()
        if fullest <= self.high:
            return Waited()
        started = since = self.wall()
        lowest = fullest
        while fullest > self.low:
            await self._sleep(self.poll_s)
            fullest = self.fullest()
            now = self.wall()
            if fullest < lowest:
                lowest, since = fullest, now
            elif now - since >= self.stall_s:
                return Waited(now - started, stalled=True)
        return Waited(self.wall() - started)
