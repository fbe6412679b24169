"""The sliced advance: same result as one call, slices sized by a fake wall clock, the gate,
progress and summary lines."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from collections.abc import Iterator

import msgspec
import pytest

from simulator.core.bus import Batch, Reset
from simulator.core.clock import ManualClock
from simulator.exchange import Exchange
from simulator.server.advancer import AdvanceInProgressError, AdvancePlan, Advancer
from simulator.server.runtime import Runtime
from simulator.server.scenarios import build_exchange, load_scenario
from simulator.server.state_hash import state_hash

HOUR_MS = 3_600_000


class FakeWall:
    """Wall seconds that move by the next step at each reading."""

    def __init__(self, steps: Iterator[float]) -> None:
        self.now = 100.0
        self._steps = steps

    def __call__(self) -> float:
        self.now += next(self._steps)
        return self.now


def steady(step: float) -> FakeWall:
    return FakeWall(itertools.repeat(step))


class EventDigest:
    """A bus subscriber hashing every event it is delivered, with its seq, in order."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.count = 0

    def deliver(self, batch: Batch, /) -> None:
        for seq, event in batch:
            self.sha.update(seq.to_bytes(8, "big") + msgspec.json.encode(event))
        self.count += len(batch)

    def reset(self, notice: Reset, /) -> None:
        raise AssertionError(notice)


def _default() -> tuple[Exchange, EventDigest]:
    scenario = load_scenario("default")
    exchange = build_exchange(scenario, ManualClock(scenario.start_ms))
    digest = EventDigest()
    exchange.bus.subscribe(digest)
    return exchange, digest


def _bare() -> Runtime:
    # a bare runtime whose slices stay at one simulated second
    advancer = Advancer(steady(0.02))
    return Runtime(load_scenario("bare"), clock_mode="manual", advancer=advancer)


def _run(advancer: Advancer, exchange: Exchange, ms: int) -> None:
    async def main() -> None:
        advancer.start(exchange, ms)
        await advancer.wait()

    asyncio.run(main())


# ---------------------------------------------------------------------------------- plan


def test_the_first_slice_is_a_second_and_the_next_aims_at_the_work_budget():
    plan = AdvancePlan(0, 60_000, 0.0, slice_ms=1_000, slice_work_s=0.02)

    assert plan.next_slice() == 1_000
    plan.record(1_000, 0.010)  # half the budget: twice as long next
    assert plan.next_slice() == 2_000
    plan.record(2_000, 0.0001)  # far under: grows at most 4-fold
    assert plan.next_slice() == 8_000
    plan.record(8_000, 0.160)  # 8 times over: shrinks at once
    assert plan.next_slice() == 1_000
    plan.record(1_000, 0.0)  # too fast to measure: grows 4-fold
    assert plan.next_slice() == 4_000
    assert (plan.reached_ms, plan.slices) == (12_000, 4)


def test_a_slice_never_passes_the_target_nor_shrinks_below_a_millisecond():
    plan = AdvancePlan(0, 2_500, 0.0, slice_ms=1_000)
    plan.record(1_000, 5.0)
    assert plan.next_slice() == 4  # 20 ms of 5 s
    plan.record(4, 100.0)
    assert plan.next_slice() == 1
    plan.slice_ms = 10_000
    assert plan.next_slice() == 2_500 - 1_004


def test_progress_percent_speed_and_eta():
    plan = AdvancePlan(1_000, 101_000, 10.0)
    assert plan.progress(10.0) == {
        "target_ms": 101_000,
        "reached_ms": 1_000,
        "percent": 0.0,
        "eta_ms": None,
    }
    plan.record(25_000, 0.5)

    assert plan.progress(11.0) == {
        "target_ms": 101_000,
        "reached_ms": 26_000,
        "percent": 25.0,
        "eta_ms": 3_000,  # 25 simulated s per wall s: 75 s to go
    }
    assert plan.speed(11.0) == 25.0
    plan.record(75_000, 2.0)
    assert plan.done
    assert plan.eta_ms(14.0) == 0
    assert AdvancePlan(5, 5, 0.0).percent() == 100.0


def test_a_target_before_the_start_is_refused():
    with pytest.raises(ValueError, match="before the start"):
        AdvancePlan(10, 9, 0.0)


# ---------------------------------------------------------------------------- same result


def test_eight_hours_sliced_give_the_events_and_state_hash_of_one_advance():
    whole, whole_events = _default()
    whole.advance(8 * HOUR_MS)

    sliced, sliced_events = _default()
    # wall readings that jump about, so slices grow and shrink all the way
    wall = FakeWall(itertools.cycle([0.02, 0.04, 0.01, 0.025, 0.016]))
    advancer = Advancer(wall, first_slice_ms=60_000)
    _run(advancer, sliced, 8 * HOUR_MS)

    advances = [e for e in sliced.command_log.entries if e[1] == "advance"]
    assert len(advances) > 100  # many slices, each an advance command of its own
    assert len({e[2][0] for e in advances}) > 3  # of several lengths
    assert sum(e[2][0] for e in advances) == 8 * HOUR_MS
    assert sliced.now() == whole.now() == load_scenario("default").start_ms + 8 * HOUR_MS
    assert sliced_events.count == whole_events.count > 100_000
    assert sliced_events.sha.hexdigest() == whole_events.sha.hexdigest()
    assert sliced.journal.last_seq == whole.journal.last_seq
    assert state_hash(sliced) == state_hash(whole)


# ---------------------------------------------------------------------------------- gate


def test_reset_state_import_and_a_second_advance_are_refused_while_one_runs():
    runtime = _bare()
    runtime.advancer.first_slice_ms = 1_000
    snapshot = runtime.export_state()
    refused: list[str] = []

    async def main() -> None:
        plan = runtime.advancer.start(runtime.exchange, HOUR_MS)
        await asyncio.sleep(0)
        for attempt in (
            runtime.reset,
            lambda: runtime.import_state(snapshot),
            lambda: runtime.advancer.start(runtime.exchange, 1),
        ):
            with pytest.raises(AdvanceInProgressError) as raised:
                attempt()
            refused.append(str(raised.value))
        assert not plan.done
        await runtime.advancer.wait()

    asyncio.run(main())

    assert runtime.generation == 0
    assert [text.split(";")[1].split(" must")[0] for text in refused] == [
        " a reset",
        " a state import",
        " another advance",
    ]
    assert runtime.exchange.now() == runtime.scenario.start_ms + HOUR_MS
    runtime.reset()  # idle again


def test_a_write_in_flight_finishes_before_the_first_slice():
    runtime = _bare()
    advancer = runtime.advancer
    start = runtime.exchange.now()

    async def main() -> None:
        advancer.enter_write()
        plan = advancer.start(runtime.exchange, 10_000)
        for _ in range(5):
            await asyncio.sleep(0)
        assert plan.reached_ms == start  # held until the write is done
        advancer.exit_write()
        await advancer.wait()
        assert plan.done

    asyncio.run(main())
    assert advancer.writes == 0
    assert advancer.running is None


def test_wait_idle_returns_once_the_advance_ended():
    runtime = _bare()
    advancer = runtime.advancer
    seen: list[int] = []

    async def main() -> None:
        advancer.start(runtime.exchange, 30_000)
        await advancer.wait_idle()
        seen.append(runtime.exchange.now())
        await advancer.wait_idle()  # idle: at once

    asyncio.run(main())
    assert seen == [runtime.scenario.start_ms + 30_000]


def test_an_advance_stopped_at_shutdown_ends_at_a_slice_boundary():
    runtime = _bare()
    advancer = runtime.advancer

    async def main() -> None:
        plan = advancer.start(runtime.exchange, HOUR_MS)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await advancer.aclose()
        assert advancer.running is None
        assert plan.start_ms < runtime.exchange.now() == plan.reached_ms < plan.target_ms

    asyncio.run(main())


# ------------------------------------------------------------------------------- logging


def test_a_long_advance_logs_progress_every_two_seconds_and_a_summary(
    caplog: pytest.LogCaptureFixture,
):
    exchange, _ = _default()
    advancer = Advancer(steady(0.25), first_slice_ms=60_000)  # each slice "takes" 0.25 s
    advancer.slice_work_s = 0.25  # ... which is the budget: slices stay at a minute

    with caplog.at_level(logging.INFO, logger="perps_sim.advance"):
        _run(advancer, exchange, 10 * 60_000)

    lines = [r.getMessage() for r in caplog.records if r.name == "perps_sim.advance"]
    progress, summary = lines[:-1], lines[-1]
    # 10 slices of 0.5 s (two readings each): progress at 1 s, 3 s and 5 s of wall time
    assert len(progress) == 3, lines
    assert progress[0].startswith("advance 20.0%: 2m00s of 10m00s simulated (now ")
    assert "120x real time, ETA 4.000 s" in progress[0]
    assert summary.startswith(
        "advance of 10m00s done: 10m00s simulated in 5.250 s wall (114x real time, 10 slices), "
        "now 2026-06-15T00:10:00.000Z; events BookDelta="
    )
    assert "TickerChanged=" in summary
    assert "OrderUpdated=" in summary


def test_a_short_advance_logs_its_summary_at_debug_only(caplog: pytest.LogCaptureFixture):
    exchange, _ = _default()
    advancer = Advancer(steady(0.001))

    with caplog.at_level(logging.DEBUG, logger="perps_sim.advance"):
        _run(advancer, exchange, 5_000)

    (record,) = [r for r in caplog.records if r.name == "perps_sim.advance"]
    assert record.levelno == logging.DEBUG
    assert record.getMessage().startswith("advance of 5s done: 5s simulated in ")


def test_progress_lines_and_summary_say_where_each_replay_has_got(
    caplog: pytest.LogCaptureFixture,
):
    scenario = load_scenario("liquidation-cascade")  # BTC replays 31 points over 10m29s
    exchange = build_exchange(scenario, ManualClock(scenario.start_ms))
    advancer = Advancer(steady(0.25), first_slice_ms=60_000)
    advancer.slice_work_s = 0.25

    with caplog.at_level(logging.INFO, logger="perps_sim.advance"):
        _run(advancer, exchange, 12 * 60_000)

    lines = [r.getMessage() for r in caplog.records if r.name == "perps_sim.advance"]
    # the first progress line at 2 minutes: 120 of 629 s of the replay, its first point only
    assert lines[0].endswith("; replay KXBTCPERP 19.1% (1 of 31 points)"), lines
    assert lines[-1].startswith("advance of 12m00s done: ")
    assert lines[-1].endswith("; replay KXBTCPERP ran out"), lines
