"""The timer driver for wall and accelerated clocks, run with a simulated sleep."""

from __future__ import annotations

import asyncio

import pytest

from matching import Side
from simulator.core.command_log import HeldClock
from simulator.exchange import Exchange
from simulator.model.orders import PlaceOrder
from simulator.server.clock_driver import drive, fire_due
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
