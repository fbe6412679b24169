"""The command log: what is recorded (outermost, accepted commands), how, and at which instant."""

from __future__ import annotations

import pytest

from matching import Side
from simulator.core import errors
from simulator.core.clock import ManualClock
from simulator.core.command_log import HeldClock
from simulator.core.command_table import decode_args, resolve
from simulator.core.commands import command
from simulator.model.orders import AmendOrder, PlaceOrder
from simulator.server.snapshots import ReplayClock
from tests.simulator.factories import T0, dollars, make_exchange

BTC = "KXBTCPERP"


@pytest.fixture
def ex():
    return make_exchange()


def names(ex):
    return [entry[1] for entry in ex.command_log.entries]


def test_each_accepted_command_is_recorded_once_with_its_instant_and_arguments(ex):
    alice = ex.create_user(user_id="alice", balance=dollars("1000")).user_id
    ex.advance(1_500)
    order = PlaceOrder(BTC, Side.BID, 62_000, 100, "c1")
    placed = ex.place_order(alice, order)
    ex.cancel_order(alice, placed.order.order_id)

    assert ex.command_log.entries == [
        (T0, "create_user", ("alice", None, None, dollars("1000"), None), False),
        (T0, "advance", (1_500,), False),
        (T0 + 1_500, "place_order", (alice, order), False),
        (T0 + 1_500, "cancel_order", (alice, placed.order.order_id, 0), False),
    ]


def test_calls_made_inside_a_command_or_a_timer_are_not_recorded(ex):
    # place_order runs run_due itself; the ticker change renames the market from a timer
    alice = ex.create_user(user_id="alice", balance=dollars("1000")).user_id
    ex.place_order(alice, PlaceOrder(BTC, Side.BID, 62_000, 100, "c1"))
    ex.corporate_actions.schedule(
        BTC, "ticker_change", execution_ms=T0 + 60_000, new_ticker="KXBTCNEW"
    )
    ex.advance(60_000)

    assert "KXBTCNEW" in ex.markets and BTC not in ex.markets
    assert names(ex) == ["create_user", "place_order", "corporate_actions.schedule", "advance"]


def test_rejected_commands_are_not_recorded(ex):
    alice = ex.create_user(user_id="alice", balance=dollars("1000")).user_id
    before = list(ex.command_log.entries)

    with pytest.raises(errors.MarketNotFoundError):
        ex.place_order(alice, PlaceOrder("NOPE", Side.BID, 62_000, 100, "c1"))
    with pytest.raises(errors.InvalidParametersError):
        ex.deposit(alice, -5)
    with pytest.raises(errors.OrderNotFoundError):
        ex.amend_order(alice, "missing", AmendOrder(BTC, Side.BID, 62_000, 200))

    assert ex.command_log.entries == before


def test_run_due_is_recorded_only_when_it_fired_a_timer():
    source = ManualClock(T0)
    ex = make_exchange()
    ex.clock = HeldClock(source)
    ex.run_due()
    ex.run_due()
    assert names(ex) == []

    source.set(T0 + 10_000)  # the first settlement-mark refreshes fall due
    ex.run_due()
    ex.run_due()

    assert ex.command_log.entries == [(T0 + 10_000, "run_due", (), False)]


def test_a_rejected_command_that_fired_due_timers_leaves_a_run_due(ex):
    source = ManualClock(T0)
    ex.clock = HeldClock(source)
    alice = ex.create_user(user_id="alice", balance=dollars("1000")).user_id
    source.set(T0 + 10_000)

    with pytest.raises(errors.MarketNotFoundError):
        ex.place_order(alice, PlaceOrder("NOPE", Side.BID, 62_000, 100, "c1"))

    assert ex.command_log.entries[1:] == [(T0 + 10_000, "run_due", (), False)]


def test_a_held_clock_stands_still_while_a_command_runs(ex):
    class Ticking:
        """A source that moves 1 ms at every reading."""

        def __init__(self) -> None:
            self.now = T0

        def now_ms(self) -> int:
            self.now += 1
            return self.now

    clock = HeldClock(Ticking())
    ex.clock = clock
    alice = ex.create_user(user_id="alice", balance=dollars("1000")).user_id
    placed = ex.place_order(alice, PlaceOrder(BTC, Side.BID, 62_000, 100, "c1"))

    ts = ex.command_log.entries[-1][0]
    assert placed.order.created_ms == placed.order.last_update_ms == ts
    assert clock.held is None
    assert ex.now() > ts


def test_a_command_failing_with_a_bug_is_recorded_as_raised(ex, monkeypatch):
    def broken(data):
        raise RuntimeError("bug")

    monkeypatch.setattr(ex.pricing, "sample_now", broken)
    with pytest.raises(RuntimeError):
        ex.set_reference_price(BTC, 63_000)

    assert ex.command_log.entries == [(T0, "set_reference_price", (BTC, 63_000, None), True)]
    assert ex._boundary.depth == 0


def test_entries_encode_to_builtins_and_decode_to_the_same_arguments(ex):
    alice = ex.create_user(user_id="alice", balance=dollars("1000")).user_id
    order = PlaceOrder(BTC, Side.ASK, 62_500, 300, "c9", post_only=True, expiration_ms=T0 + 5)
    ex.place_order(alice, order)

    encoded = ex.command_log.encode(ex.command_log.entries[-1])

    assert encoded[:2] == [T0, "place_order"]
    assert encoded[2]["command"]["side"] == "ask"
    assert encoded[2]["command"]["time_in_force"] == "good_till_canceled"
    assert decode_args(resolve(ex, "place_order"), encoded[2]) == {
        "user_id": alice,
        "command": order,
    }


def test_decoding_rejects_unknown_commands_parameters_and_types(ex):
    with pytest.raises(ValueError, match="unknown command"):
        resolve(ex, "nope")
    deposit = resolve(ex, "deposit")
    with pytest.raises(ValueError, match="no parameter"):
        decode_args(deposit, {"user": "a"})
    with pytest.raises(ValueError, match="amount"):
        decode_args(deposit, {"user_id": "a", "amount": "5"})


def test_only_plain_parameters_are_supported():
    with pytest.raises(TypeError, match="unsupported"):

        @command("test_only.varargs")
        def varargs(self, *values):  # pragma: no cover - never called
            return values


def test_every_command_ends_quiet_even_those_that_only_move_cash(ex):
    # a deposit or an opening balance marks the account for a margin check: the same command
    # schedules it, not whichever command comes next
    alice = ex.create_user(user_id="alice", balance=dollars("1000")).user_id
    assert not ex.effects.touched
    assert ("alice", 0) in ex.liquidator._pending
    ex.liquidator._pending.clear()

    ex.deposit(alice, dollars("5"))

    assert not ex.effects.touched
    assert ("alice", 0) in ex.liquidator._pending


def test_a_run_due_right_after_another_replaces_it_but_the_sink_gets_both():
    source = ManualClock(T0)
    ex = make_exchange()
    ex.clock = HeldClock(source)
    lines: list[list[object]] = []
    ex.command_log.sink = lines.append

    source.set(T0 + 10_000)
    ex.run_due()
    source.set(T0 + 20_000)
    ex.run_due()

    assert ex.command_log.entries == [(T0 + 20_000, "run_due", (), False)]
    assert lines == [[T0 + 10_000, "run_due", {}], [T0 + 20_000, "run_due", {}]]


def test_run_dues_are_not_coalesced_across_another_command_or_back_in_time():
    source = ReplayClock(T0)  # a clock that may step back, as a wall clock can
    ex = make_exchange()
    ex.clock = HeldClock(source)
    source.set(T0 + 10_000)
    ex.run_due()
    alice = ex.create_user(user_id="alice", balance=dollars("1000")).user_id
    source.set(T0 + 20_000)
    ex.run_due()
    source.jump(T0 + 15_000)  # stepped back: timers due by 20 s have fired already
    ex.timers.arm(("test", "back"), T0 + 15_000, lambda due: None)
    ex.run_due()

    entries = ex.command_log.entries
    assert [(ts, name) for ts, name, _, _ in entries] == [
        (T0 + 10_000, "run_due"),
        (T0 + 10_000, "create_user"),
        (T0 + 20_000, "run_due"),
        (T0 + 15_000, "run_due"),
    ]
    assert entries[1][2][0] == alice
