"""The stats line: counts of the runtime's events and the speed over each interval."""

from __future__ import annotations

import asyncio
import logging

import pytest

from matching import Side, TimeInForce
from simulator.core.bus import Reset
from simulator.model.orders import PlaceOrder
from simulator.server.run_stats import RunStats, report
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario

START_MS = 1_781_481_600_000
MINUTE_MS = 60_000


class _FakeWall:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_counts_orders_fills_funding_payments_and_liquidations_across_a_reset():
    runtime = Runtime(load_scenario("liquidation-cascade"), clock_mode="manual")
    stats = RunStats(_FakeWall())
    runtime.bus.subscribe(stats)
    exchange = runtime.exchange
    demo = exchange.users["demo-user"].user_id
    ask = exchange.markets["KXETHPERP"].book.depth().asks[0][0]

    exchange.place_order(
        demo,
        PlaceOrder(
            "KXETHPERP", Side.BID, ask, 100, "s-1", time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL
        ),
    )
    exchange.advance(11 * MINUTE_MS)  # the crash liquidates the four longs
    counted = (stats.orders, stats.fills, stats.funding_payments, stats.liquidations)
    runtime.reset()  # the counts carry on
    runtime.exchange.advance(1_000)

    orders, fills, funding, liquidations = counted
    assert orders > 1  # ours and the market maker's
    assert fills >= 2  # both sides of our fill, then the liquidation orders' fills
    assert funding == 0
    assert liquidations == 4
    assert stats.liquidations == 4
    assert stats.orders >= orders


def test_counts_funding_payments():
    runtime = Runtime(load_scenario("funding"), clock_mode="manual")
    stats = RunStats(_FakeWall())
    runtime.bus.subscribe(stats)

    runtime.exchange.advance(4 * 60 * MINUTE_MS + MINUTE_MS)  # past 04:00 UTC

    assert stats.funding_payments > 0
    assert stats.fills > 0  # the noise takers trade


def test_the_line_has_simulated_time_the_speed_over_the_interval_and_the_counts():
    wall = _FakeWall()
    stats = RunStats(wall)
    stats.start(START_MS)
    stats.orders, stats.fills, stats.funding_payments, stats.liquidations = 12, 3, 2, 1
    wall.now += 10.0

    first = stats.line(START_MS + 600_000)  # 10 simulated minutes in 10 s
    wall.now += 5.0
    second = stats.line(START_MS + 600_000 + 2_500)

    assert first == (
        "stats: 2026-06-15T00:10:00.000Z, 60x real time over 10.0 s; orders 12, fills 3, "
        "funding payments 2, liquidations 1"
    )
    assert second.startswith("stats: 2026-06-15T00:10:02.500Z, 0.50x real time over 5.000 s;")


def test_behind_the_clock_the_line_has_the_time_reached_its_own_speed_and_the_lag():
    wall = _FakeWall()
    stats = RunStats(wall)
    stats.start(START_MS)
    wall.now += 10.0

    line = stats.line(START_MS + 600_000, lag_ms=7_200_000)  # the clock is 2 h further on

    assert line == (
        "stats: 2026-06-15T00:10:00.000Z, 60x real time over 10.0 s, 2h00m00s behind the clock; "
        "orders 0, fills 0, funding payments 0, liquidations 0"
    )


def test_a_lag_within_the_threshold_is_not_falling_behind():
    wall = _FakeWall()
    stats = RunStats(wall, lag_threshold_ms=60_000)
    stats.start(START_MS)
    wall.now += 1.0

    assert "behind" not in stats.line(START_MS + 60_000, lag_ms=60_000)
    wall.now += 1.0
    assert stats.line(START_MS + 120_000, lag_ms=60_001).startswith(
        "stats: 2026-06-15T00:02:00.000Z, 60x real time over 1.000 s, 1m00.001s behind the clock;"
    )


def test_a_line_before_start_has_no_speed_and_a_reset_notice_changes_nothing():
    stats = RunStats(_FakeWall())
    stats.reset(Reset("reset", 1, 0))

    assert stats.line(START_MS) == (
        "stats: 2026-06-15T00:00:00.000Z; orders 0, fills 0, funding payments 0, liquidations 0"
    )


def test_report_logs_a_line_every_interval(caplog: pytest.LogCaptureFixture):
    wall = _FakeWall()
    stats = RunStats(wall)
    now = [START_MS]
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        if len(sleeps) == 3:
            raise asyncio.CancelledError
        sleeps.append(seconds)
        wall.now += seconds
        now[0] += int(seconds * 1_000)

    with (
        caplog.at_level(logging.INFO, logger="perps_sim.stats"),
        pytest.raises(asyncio.CancelledError),
    ):
        asyncio.run(report(stats, lambda: (now[0], 0), 2.5, sleep=fake_sleep))

    assert sleeps == [2.5, 2.5, 2.5]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert lines[0].startswith("stats: 2026-06-15T00:00:02.500Z, 1.00x real time over 2.500 s;")
    assert lines[2].startswith("stats: 2026-06-15T00:00:07.500Z")


def test_report_refuses_a_non_positive_interval():
    with pytest.raises(ValueError):
        asyncio.run(report(RunStats(), lambda: (START_MS, 0), 0))


def test_report_ends_a_line_with_what_extra_says_when_it_says_something(
    caplog: pytest.LogCaptureFixture,
):
    said = iter(["replay KXBTCPERP 50.0% (3 of 31 points)", ""])

    async def fake_sleep(seconds: float) -> None:
        if len(caplog.records) == 2:
            raise asyncio.CancelledError

    with (
        caplog.at_level(logging.INFO, logger="perps_sim.stats"),
        pytest.raises(asyncio.CancelledError),
    ):
        asyncio.run(
            report(
                RunStats(_FakeWall()),
                lambda: (START_MS, 0),
                1,
                sleep=fake_sleep,
                extra=lambda: next(said),
            )
        )

    first, second = [r.getMessage() for r in caplog.records]
    assert first.endswith("liquidations 0; replay KXBTCPERP 50.0% (3 of 31 points)")
    assert second.endswith("liquidations 0")
