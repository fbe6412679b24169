"""The timer driver for wall and accelerated clocks, run with a simulated sleep."""

from __future__ import annotations

import asyncio

import pytest

from matching import Side
from simulator.clock_driver import drive
from simulator.exchange import Exchange
from simulator.orders import PlaceOrder
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
