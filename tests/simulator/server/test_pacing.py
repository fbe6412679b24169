"""Pacing: an advance waits between slices while a send queue is full, and gives up on a
reader that stopped; the result of the advance does not change."""

from __future__ import annotations

import asyncio
import logging

import pytest

from simulator.server.advancer import Advancer
from simulator.server.pacing import Pacer, Waited
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario

HOUR_MS = 3_600_000


class Clock:
    """A fake wall clock and the sleep that moves it (no test waits on the real clock)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps = 0

    def wall(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def _pacer(clock: Clock, **options: float) -> Pacer:
    return Pacer(clock.wall, sleep=clock.sleep, **options)


def test_below_the_high_mark_it_returns_at_once() -> None:
    clock = Clock()
    pacer = _pacer(clock, high=0.5, low=0.25)
    pacer.add(lambda: 0.5)

    assert asyncio.run(pacer.wait()) == Waited()
    assert clock.sleeps == 0


def test_above_the_high_mark_it_waits_until_the_low_mark() -> None:
    clock = Clock()
    pacer = _pacer(clock, high=0.5, low=0.25, poll_s=0.01)
    readings = iter([0.9, 0.8, 0.6, 0.3, 0.25])
    pacer.add(lambda: next(readings))

    waited = asyncio.run(pacer.wait())

    assert clock.sleeps == 4
    assert waited.seconds == pytest.approx(0.04)
    assert not waited.stalled


def test_the_fullest_of_several_transports_counts_and_a_removed_one_does_not() -> None:
    pacer = _pacer(Clock())
    remove = pacer.add(lambda: 0.9)
    pacer.add(lambda: 0.2)
    assert pacer.fullest() == 0.9

    remove()

    assert pacer.fullest() == 0.2
    remove()  # twice: nothing happens
    assert _pacer(Clock()).fullest() == 0.0


def test_a_queue_that_does_not_shrink_for_stall_s_ends_the_wait() -> None:
    clock = Clock()
    pacer = _pacer(clock, high=0.5, low=0.25, stall_s=1.0, poll_s=0.25)
    readings = iter([0.9, 0.8] + [0.8] * 100)  # shrinks once, then sits
    pacer.add(lambda: next(readings))

    waited = asyncio.run(pacer.wait())

    assert waited.stalled
    assert waited.seconds == 1.25  # 0.25 to the shrink, then 1.0 without one


def test_marks_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="low must be"):
        Pacer(high=0.2, low=0.2)


def _paced_runtime(clock: Clock, pacer: Pacer) -> Runtime:
    advancer = Advancer(lambda: clock.now, first_slice_ms=60_000, pacer=pacer)
    return Runtime(load_scenario("default"), clock_mode="manual", advancer=advancer)


def test_an_advance_runs_no_slice_while_it_waits_and_ends_where_an_unpaced_one_does() -> None:
    clock = Clock()
    pacer = _pacer(clock, high=0.5, low=0.25)
    runtime = _paced_runtime(clock, pacer)
    plain = Runtime(load_scenario("default"), clock_mode="manual")
    seen: list[tuple[int, float]] = []  # (simulated now, backlog) at each reading
    backlog = iter([0.9, 0.7, 0.2] * 1_000)  # every pause: two readings over, then under

    def reading() -> float:
        level = next(backlog)
        seen.append((runtime.exchange.now(), level))
        return level

    pacer.add(reading)

    async def run() -> None:
        runtime.advancer.start(runtime.exchange, HOUR_MS)
        await runtime.advancer.wait()
        plain.advancer.start(plain.exchange, HOUR_MS)
        await plain.advancer.wait()

    asyncio.run(run())

    assert seen[:3] == [(seen[0][0], 0.9), (seen[0][0], 0.7), (seen[0][0], 0.2)]  # one pause
    assert runtime.exchange.now() == plain.exchange.now()
    assert runtime.state_hash() == plain.state_hash()


def test_after_a_stall_the_advance_goes_on_without_waiting_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    pacer = _pacer(clock, stall_s=2.0, poll_s=0.25)
    runtime = _paced_runtime(clock, pacer)
    readings: list[float] = []

    def stuck() -> float:
        readings.append(clock.now)
        return 1.0  # a reader that stopped reading

    pacer.add(stuck)

    async def run() -> None:
        plan = runtime.advancer.start(runtime.exchange, HOUR_MS)
        await runtime.advancer.wait()
        assert not plan.pacing
        assert plan.paced_s == 2.0

    with caplog.at_level(logging.WARNING, logger="perps_sim.advance"):
        asyncio.run(run())

    assert runtime.exchange.now() - load_scenario("default").start_ms == HOUR_MS
    assert len(readings) == round(2.0 / pacer.poll_s) + 1  # one pause, then no more readings
    assert any("has not shrunk for 2.000 s" in r.getMessage() for r in caplog.records)
