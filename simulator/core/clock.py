"""Simulated time: the only module that reads the wall clock, plus the timer queue.

Modes (DESIGN.md 4): `ManualClock` moves only when told (tests, CI), `WallClock` follows real
time, `AcceleratedClock` runs N times faster than real time from a start instant. Timers live in
`Timers`, keyed so a re-armed timer replaces the old one; the exchange fires due timers in
(due time, arming order) order whenever time moves.

`wall_seconds` is real elapsed time for pacing and measuring work (the sliced advance, the lag
warning, the stats line), never a simulated instant; code that needs it takes a `WallTime`
so that tests pass a fake one.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Hashable
from typing import Protocol

__all__ = [
    "AcceleratedClock",
    "Clock",
    "ManualClock",
    "Timers",
    "WallClock",
    "WallTime",
    "make_clock",
    "wall_seconds",
]

WallTime = Callable[[], float]
"""A source of real elapsed seconds (monotonic; only differences mean anything)."""


def wall_seconds() -> float:
    """Seconds on a monotonic real-time clock (`time.perf_counter`), for measuring work."""
    return time.perf_counter()


class Clock(Protocol):
    """Source of the current simulated time in epoch milliseconds."""

    def now_ms(self) -> int: ...


class ManualClock:
    """A clock that moves only through `set` (never backwards)."""

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, ts_ms: int) -> None:
        """Move to `ts_ms`; moving backwards is an error."""
        if ts_ms < self._now:
            raise ValueError(f"time cannot go backwards: {ts_ms} < {self._now}")
        self._now = ts_ms


class WallClock:
    """Real time."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class AcceleratedClock:
    """Time running `speed` times faster than real time, starting at `start_ms`."""

    def __init__(self, start_ms: int, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, was {speed}")
        self._start = start_ms
        self._speed = speed
        self._origin_ns = time.monotonic_ns()

    def now_ms(self) -> int:
        elapsed_ms = (time.monotonic_ns() - self._origin_ns) / 1_000_000
        return self._start + int(elapsed_ms * self._speed)


def make_clock(mode: str, start_ms: int, speed: float = 1.0) -> Clock:
    """Build the clock for a mode name: `manual`, `wall` or `accelerated`."""
    if mode == "manual":
        return ManualClock(start_ms)
    if mode == "wall":
        return WallClock()
    if mode == "accelerated":
        return AcceleratedClock(start_ms, speed)
    raise ValueError(f"clock mode must be manual, wall or accelerated, was {mode!r}")


class Timers:
    """Keyed one-shot timers ordered by (due time, arming order).

    Arming a key again replaces its previous timer; `cancel` drops it. Stale heap entries are
    skipped lazily, so both are O(log n).
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Hashable]] = []
        self._live: dict[Hashable, tuple[int, int, Callable[[int], None]]] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._live)

    def arm(self, key: Hashable, due_ms: int, callback: Callable[[int], None]) -> None:
        """Run `callback(due_ms)` at `due_ms`, replacing any timer armed under `key`."""
        self._seq += 1
        self._live[key] = (due_ms, self._seq, callback)
        heapq.heappush(self._heap, (due_ms, self._seq, key))

    def arm_earlier(self, key: Hashable, due_ms: int, callback: Callable[[int], None]) -> None:
        """Arm `key` unless it is already armed at or before `due_ms`."""
        current = self._live.get(key)
        if current is None or current[0] > due_ms:
            self.arm(key, due_ms, callback)

    def cancel(self, key: Hashable) -> None:
        self._live.pop(key, None)

    def rekey(self, old: Hashable, new: Hashable) -> None:
        """Move the timer armed under `old` to `new` (same due time and callback)."""
        entry = self._live.pop(old, None)
        if entry is not None:
            self.arm(new, entry[0], entry[2])

    def armed(self) -> list[Hashable]:
        """Keys of the live timers."""
        return list(self._live)

    def due(self, key: Hashable) -> int | None:
        """When `key` fires, or None if it is not armed."""
        entry = self._live.get(key)
        return None if entry is None else entry[0]

    def next_due(self) -> int | None:
        """The earliest due time of a live timer."""
        heap = self._heap
        while heap:
            due_ms, seq, key = heap[0]
            live = self._live.get(key)
            if live is not None and live[1] == seq:
                return due_ms
            heapq.heappop(heap)
        return None

    def any_due(self, until_ms: int) -> bool:
        """Whether a timer may be due at or before `until_ms` (False: `pop_due` finds none)."""
        heap = self._heap
        return bool(heap) and heap[0][0] <= until_ms

    def pop_due(self, until_ms: int) -> tuple[int, Callable[[int], None]] | None:
        """Remove and return the earliest live timer due at or before `until_ms`."""
        heap = self._heap
        live = self._live
        # `next_due`, inlined (once per timer fired): stale entries at the top are dropped
        while heap:
            due_ms, seq, key = heap[0]
            if due_ms > until_ms:
                return None  # the heap's top is no later than any live timer
            entry = live.get(key)
            if entry is not None and entry[1] == seq:
                heapq.heappop(heap)
                del live[key]
                return due_ms, entry[2]
            heapq.heappop(heap)
        return None
