"""Clocks and timers: manual time, timer order, re-arming, and the wall-clock driver."""

from __future__ import annotations

import pytest

from matching import Side
from simulator.core import errors
from simulator.core.clock import AcceleratedClock, ManualClock, Timers, WallClock, make_clock
from simulator.exchange import Exchange
from simulator.model.orders import PlaceOrder
from tests.simulator.factories import T0, dollars, make_spec


def test_manual_clock_never_goes_backwards():
    clock = ManualClock(100)
    clock.set(150)

    with pytest.raises(ValueError, match="backwards"):
        clock.set(149)
    assert clock.now_ms() == 150


def test_make_clock_builds_each_mode():
    assert isinstance(make_clock("manual", T0), ManualClock)
    assert isinstance(make_clock("wall", T0), WallClock)
    assert isinstance(make_clock("accelerated", T0, 10.0), AcceleratedClock)
    with pytest.raises(ValueError):
        make_clock("sundial", T0)
    with pytest.raises(ValueError):
        AcceleratedClock(T0, 0)


def test_timers_fire_by_due_time_then_arming_order():
    timers = Timers()
    fired: list[str] = []
    timers.arm("b", 20, lambda _t: fired.append("b"))
    timers.arm("a", 10, lambda _t: fired.append("a"))
    timers.arm("c", 20, lambda _t: fired.append("c"))

    while (item := timers.pop_due(100)) is not None:
        item[1](item[0])

    assert fired == ["a", "b", "c"]


def test_rearming_replaces_and_cancel_drops():
    timers = Timers()
    fired: list[int] = []
    timers.arm("k", 10, fired.append)
    timers.arm("k", 30, fired.append)
    timers.arm("x", 5, fired.append)
    timers.cancel("x")

    assert timers.next_due() == 30
    assert timers.pop_due(29) is None
    due, callback = timers.pop_due(30)  # type: ignore[misc]
    callback(due)
    assert fired == [30]
    assert len(timers) == 0


def test_arm_earlier_keeps_the_earlier_timer():
    timers = Timers()
    timers.arm("k", 10, lambda _t: None)

    timers.arm_earlier("k", 20, lambda _t: None)
    assert timers.due("k") == 10
    timers.arm_earlier("k", 5, lambda _t: None)
    assert timers.due("k") == 5


class _DrivenClock:
    """A stand-in for the wall clock whose time the test moves."""

    def __init__(self, now: int) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


def test_run_due_fires_timers_when_a_wall_clock_has_moved():
    clock = _DrivenClock(T0)
    ex = Exchange([make_spec()], clock=clock, seed=1)
    user = ex.create_user(balance=dollars("100")).user_id
    order = ex.place_order(
        user, PlaceOrder("KXBTCPERP", Side.BID, 60000, 100, "c", expiration_ms=T0 + 1_500)
    ).order

    clock.now = T0 + 2_000
    ex.run_due()

    assert ex.orders[order.order_id].remaining == 0
    with pytest.raises(errors.InvalidParametersError):
        ex.advance(1_000)


def test_commands_fire_due_timers_first():
    clock = _DrivenClock(T0)
    ex = Exchange([make_spec()], clock=clock, seed=1)
    user = ex.create_user(balance=dollars("100")).user_id
    order = ex.place_order(
        user, PlaceOrder("KXBTCPERP", Side.BID, 60000, 100, "c", expiration_ms=T0 + 1_500)
    ).order
    clock.now = T0 + 2_000

    ex.place_order(user, PlaceOrder("KXBTCPERP", Side.BID, 59000, 100, "d"))

    assert ex.orders[order.order_id].remaining == 0
