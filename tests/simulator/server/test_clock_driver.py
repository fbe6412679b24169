"""The timer driver for wall and accelerated clocks, run with a simulated sleep."""

from __future__ import annotations

import asyncio
import logging

import pytest

from matching import Side
from simulator.core.command_log import HeldClock
from simulator.exchange import Exchange
from simulator.model.orders import PlaceOrder
from simulator.server.clock_driver import (
    LagWatch,
    drive,
    drive_current,
    fire_due,
    lag_ms,
    position,
)
from simulator.server.scenarios import build_exchange, load_scenario
from tests.simulator.factories import T0, dollars, make_spec


class _FakeWallClock:
    def __init__(self, now: int) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


def _run(exchange, clock, *, speed, until_ms, sleeps):
    stop = asyncio.Event()

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += max(1, int(seconds * 1000 * speed))
        if clock.now >= until_ms:
            stop.set()

    asyncio.run(drive(exchange, stop, speed=speed, sleep=fake_sleep))


def test_driver_fires_expiry_and_funding_as_time_passes():
    clock = _FakeWallClock(T0)
    ex = Exchange([make_spec()], clock=clock, seed=1)
    user = ex.create_user(balance=dollars("100")).user_id
    order = ex.place_order(
        user, PlaceOrder("KXBTCPERP", Side.BID, 60000, 100, "c", expiration_ms=T0 + 2_500)
    ).order
    sleeps: list[float] = []

    _run(ex, clock, speed=1.0, until_ms=T0 + 5 * 3_600_000, sleeps=sleeps)

    assert ex.orders[order.order_id].remaining == 0
    assert len(ex.markets["KXBTCPERP"].funding_history) == 1  # 04:00 UTC passed
    assert max(sleeps) <= 0.5


def test_driver_scales_sleeps_by_the_clock_speed():
    clock = _FakeWallClock(T0)
    ex = Exchange([make_spec()], clock=clock, seed=1)
    sleeps: list[float] = []

    _run(ex, clock, speed=1_000.0, until_ms=T0 + 4 * 3_600_000 + 1, sleeps=sleeps)

    assert len(ex.markets["KXBTCPERP"].funding_history) == 1
    assert all(s <= 0.5 for s in sleeps)


def test_driver_rejects_a_non_positive_speed():
    ex = Exchange([make_spec()], clock=_FakeWallClock(T0), seed=1)

    with pytest.raises(ValueError):
        asyncio.run(drive(ex, asyncio.Event(), speed=0))


def test_overdue_timers_fire_at_their_own_instants_on_a_held_clock():
    source = _FakeWallClock(T0)
    ex = Exchange([make_spec()], clock=HeldClock(source), seed=1)
    seen: list[tuple[int, int]] = []
    for offset in (1_000, 3_000, 3_000, 4_000):
        ex.timers.arm(("probe", offset, len(seen)), T0 + offset, lambda due: None)
    ex.timers.arm(("probe", "a"), T0 + 1_500, lambda due: seen.append((due, ex.now())))
    ex.timers.arm(("probe", "b"), T0 + 3_500, lambda due: seen.append((due, ex.now())))
    source.now = T0 + 10_000  # the driver woke up late

    while fire_due(ex, max_instants=2):
        pass

    assert seen == [(T0 + 1_500, T0 + 1_500), (T0 + 3_500, T0 + 3_500)]
    assert ex.now() == T0 + 10_000
    assert (ex.next_timer() or 0) > T0 + 10_000


def test_a_late_start_of_the_default_scenario_catches_up_without_errors():
    scenario = load_scenario("default")
    source = _FakeWallClock(scenario.start_ms)
    ex = build_exchange(scenario, HeldClock(source))
    source.now += 90_000  # e.g. an accelerated clock that ran while the server started

    batches = 1
    while fire_due(ex):
        batches += 1

    assert batches > 1  # 90 one-second instants came in batches
    assert ex.markets["KXBTCPERP"].mark_ts_ms > scenario.start_ms


def test_lag_is_how_far_the_source_is_past_the_oldest_unfired_timer():
    source = _FakeWallClock(T0)
    ex = Exchange([make_spec()], clock=HeldClock(source), seed=1)
    due = ex.next_timer()
    assert due is not None

    source.now = due - 1
    assert lag_ms(ex) == 0
    assert position(ex) == (due - 1, 0)
    source.now = due + 2_500
    assert lag_ms(ex) == 2_500
    assert position(ex) == (due, 2_500)  # reached: the oldest timer that has not fired
    ex.run_due()  # everything due by now fired
    assert lag_ms(ex) == 0
    assert position(ex) == (due + 2_500, 0)


class _FakeWall:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_watch_warns_once_per_interval_while_behind_and_says_when_caught_up(
    caplog: pytest.LogCaptureFixture,
):
    wall = _FakeWall()
    watch = LagWatch(100.0, wall=wall)  # 100 x: one real second is 100 simulated seconds

    with caplog.at_level(logging.INFO, logger="perps_sim.clock"):
        watch.observe(99_000)  # under the threshold
        watch.observe(150_000)
        wall.now += 5
        watch.observe(300_000)  # still behind, 5 s later: no second warning yet
        wall.now += 5
        watch.observe(200_000)  # 10 s later: warned again
        watch.observe(0)
        watch.observe(0)

    assert watch.threshold_ms == 100_000
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        (
            "WARNING",
            "the exchange cannot keep up with the x100 clock: timers fire 2m30s of simulated "
            "time late (threshold 1m40s); events and prices arrive late",
        ),
        (
            "WARNING",
            "the exchange cannot keep up with the x100 clock: timers fire 3m20s of simulated "
            "time late (threshold 1m40s); events and prices arrive late",
        ),
        ("INFO", "the exchange caught up with the clock (worst lag 5m00s)"),
    ]
    assert not watch.behind


def test_a_short_episode_within_the_interval_logs_neither_warning_nor_recovery(
    caplog: pytest.LogCaptureFixture,
):
    wall = _FakeWall()
    watch = LagWatch(1.0, wall=wall)
    assert watch.threshold_ms == 1_000

    with caplog.at_level(logging.INFO, logger="perps_sim.clock"):
        watch.observe(5_000)  # warned
        watch.observe(0)  # caught up (said)
        wall.now += 1
        watch.observe(5_000)  # behind again within 10 s: no warning ...
        watch.observe(0)  # ... so no recovery line either

    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "with the wall clock" in caplog.records[0].getMessage()


def test_a_driver_that_falls_behind_says_so_and_catches_up(caplog: pytest.LogCaptureFixture):
    scenario = load_scenario("default")
    source = _FakeWallClock(scenario.start_ms)
    ex = build_exchange(scenario, HeldClock(source))
    wall = _FakeWall()
    watch = LagWatch(1_000.0, wall=wall)
    stop = asyncio.Event()
    lags: list[int] = []
    steps = 0

    async def fake_sleep(seconds: float) -> None:
        nonlocal steps
        steps += 1
        lags.append(lag_ms(ex))
        wall.now += 0.1
        if steps <= 3:
            source.now += 600_000  # the clock runs 10 simulated minutes ahead at each step
        elif not watch.behind:
            stop.set()

    with caplog.at_level(logging.INFO, logger="perps_sim.clock"):
        asyncio.run(drive_current(lambda: ex, stop, speed=1_000.0, sleep=fake_sleep, watch=watch))

    assert max(lags) > 1_000_000  # more than one real second behind at x1000
    assert lag_ms(ex) < watch.threshold_ms
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "INFO"], caplog.text
