"""Snapshots: export a command log, replay it into an identical exchange, refuse bad ones."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from matching import Side, TimeInForce
from simulator.core.clock import AcceleratedClock, ManualClock, WallClock
from simulator.core.command_log import HeldClock
from simulator.core.money import parse_dollars
from simulator.exchange import Exchange
from simulator.model.orders import AmendOrder, PlaceOrder
from simulator.server import snapshots
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from simulator.server.state_hash import state_hash

BARE = load_scenario("bare")
START = BARE.start_ms
BTC, ETH, SOL = "KXBTCPERP", "KXETHPERP", "KXSOLPERP"
IOC = TimeInForce.IMMEDIATE_OR_CANCEL


def fresh(clock: Any = None) -> Exchange:
    return snapshots.build(BARE, clock or ManualClock(START))


def ref(ex: Exchange, ticker: str = BTC) -> int:
    reference = ex.markets[ticker].reference
    assert reference is not None
    return reference[0]


def session(ex: Exchange, step: Any) -> None:
    """Orders and fills, transfers, a group, an exit trigger, a corporate action, prices, time.

    `step(ms)` moves time between commands (advance, or a source clock plus run_due).
    """
    d = parse_dollars
    alice = ex.create_user(user_id="alice", balance=d("5000")).user_id
    bob = ex.create_user(user_id="bob", balance=d("5000")).user_id
    ex.deposit(alice, d("100"))
    sub = ex.create_subaccount(alice)
    ex.transfer(alice, 0, sub, d("50"), "t-1")
    ex.deposit_event_contract(bob, d("20"))
    ex.instance_transfer(bob, "event_contract", "margined", d("10"), "x-1")
    group = ex.groups.create(alice, 0, 500)
    price = ref(ex)
    ex.place_order(bob, PlaceOrder(BTC, Side.ASK, price, 300, "b-1"))
    ex.place_order(alice, PlaceOrder(BTC, Side.BID, price, 200, "a-1", order_group_id=group.id))
    step(1_500)
    ex.exit_triggers.set_cross(alice, 0, BTC, stop_loss_price=price - 3_000)
    resting = ex.place_order(alice, PlaceOrder(BTC, Side.BID, price - 500, 100, "a-2")).order
    ex.amend_order(alice, resting.order_id, AmendOrder(BTC, Side.BID, price - 400, 300))
    ex.decrease_order(alice, resting.order_id, reduce_by=100)
    ex.set_reference_price(ETH, 35_000)
    ex.corporate_actions.schedule(
        SOL, "cash_dividend", execution_ms=ex.now() + 60_000, cash_per_contract=d("0.01")
    )
    ex.place_order(bob, PlaceOrder(SOL, Side.ASK, ref(ex, SOL), 100, "b-2"))
    ex.place_order(alice, PlaceOrder(SOL, Side.BID, ref(ex, SOL), 100, "a-3", time_in_force=IOC))
    step(61_000)  # the dividend
    ex.cancel_all(bob)
    ex.groups.trigger(alice, group.id)


def more(ex: Exchange, step: Any) -> None:
    """Commands after a restore: both copies must behave the same."""
    price = ref(ex)
    ex.place_order("bob", PlaceOrder(BTC, Side.ASK, price + 100, 500, "b-9"))
    ex.place_order("alice", PlaceOrder(BTC, Side.BID, price + 100, 100, "a-9", subaccount=1))
    step(30_000)
    ex.set_reference_price(BTC, price - 4_000)
    step(2_000)


def events(ex: Exchange) -> bytes:
    return msgspec.json.encode([event for _, event in ex.events_since(0)])


def advancing(ex: Exchange) -> Any:
    return ex.advance


def test_export_then_import_gives_the_same_exchange():
    ex = fresh()
    session(ex, ex.advance)
    snapshot = snapshots.export_state(ex)

    restored = snapshots.import_state(msgspec.json.encode(snapshot))

    assert snapshot["format"] == "perps-sim/state-v1"
    assert (snapshot["seed"], snapshot["created_ms"]) == (1, START)
    assert snapshot["now_ms"] == ex.now() == restored.now()
    assert state_hash(restored) == state_hash(ex) == snapshot["state_hash"]
    assert events(restored) == events(ex)
    assert restored.fills == ex.fills
    assert len(ex.fills) >= 2 and ex.users["alice"].subaccounts[1].cash == parse_dollars("50")
    assert restored.exit_triggers.list("alice", 0, BTC) == ex.exit_triggers.list("alice", 0, BTC)
    assert [a.status for a in ex.corporate_actions.list()] == ["applied"]
    assert restored.corporate_actions.list() == ex.corporate_actions.list()
    assert restored.groups.list("alice") == ex.groups.list("alice")
    assert snapshots.export_state(restored) == snapshot


def test_a_restored_exchange_behaves_like_the_original():
    ex = fresh()
    session(ex, ex.advance)
    restored = snapshots.import_state(snapshots.export_state(ex))

    more(ex, ex.advance)
    more(restored, restored.advance)

    assert state_hash(restored) == state_hash(ex)
    assert events(restored) == events(ex)
    assert ex.users["alice"].subaccounts[1].position(BTC).qty == 100


def test_the_scenario_set_up_is_not_in_the_log():
    ex = fresh()
    assert "demo-user" in ex.users
    assert snapshots.export_state(ex)["commands"] == []
    assert snapshots.import_state(snapshots.export_state(ex)).users.keys() == ex.users.keys()


def test_commands_on_a_held_wall_like_clock_replay_exactly():
    # a wall clock stand-in: time moves on its own between commands; timers fire by run_due
    source = ManualClock(START + 123)
    ex = fresh(HeldClock(source))

    def step(ms: int) -> None:
        # a punctual driver: run_due at each timer's instant, then the rest of the way
        target = source.now_ms() + ms
        while (due := ex.next_timer()) is not None and due <= target:
            source.set(max(due, source.now_ms()))
            ex.run_due()
        source.set(target)

    session(ex, step)
    snapshot = snapshots.export_state(ex)
    restored = snapshots.import_state(snapshot)

    assert snapshot["created_ms"] == START + 123
    assert "run_due" in [name for _, name, _ in snapshot["commands"]]
    assert state_hash(restored) == state_hash(ex)
    assert events(restored) == events(ex)


def test_coalesced_run_dues_replay_to_the_same_state_as_every_one_of_them():
    # the clock driver's way on the default scenario (feeds, marks, the house maker): run_due
    # about once a second, at instants that miss timers by a little, with orders in between
    scenario = load_scenario("default")
    source = ManualClock(scenario.start_ms)
    ex = snapshots.build(scenario, HeldClock(source))
    lines: list[list[Any]] = []
    ex.command_log.sink = lines.append
    alice = ex.create_user(user_id="alice", balance=parse_dollars("5000")).user_id
    for second in range(1, 600):
        source.set(scenario.start_ms + second * 1_000 + second % 7 * 37)
        ex.run_due()
        if second in (200, 201, 450):
            best = ex.markets[BTC].book.best_ask()
            assert best is not None
            ex.place_order(alice, PlaceOrder(BTC, Side.BID, best[0], 100, f"a-{second}", IOC))

    snapshot = snapshots.export_state(ex)
    coalesced = snapshots.import_state(snapshot)
    every = snapshots.replay(
        snapshots.origin_of(ex),  # type: ignore[arg-type]
        [(line[0], line[1], line[2], False) for line in lines],
        snapshot["now_ms"],
    )

    names = [name for _, name, _ in snapshot["commands"]]
    assert names == ["create_user"] + ["run_due", "place_order"] * 3 + ["run_due"]
    assert sum(line[1] == "run_due" for line in lines) > 500
    assert len(ex.fills) == 6
    assert state_hash(coalesced) == state_hash(every) == state_hash(ex)
    assert events(coalesced) == events(every) == events(ex)


def tampered(change: Any) -> dict[str, Any]:
    ex = fresh()
    session(ex, ex.advance)
    snapshot = copy.deepcopy(snapshots.export_state(ex))
    change(snapshot)
    return snapshot


def _amount(snapshot: dict[str, Any]) -> None:
    deposit = next(c for c in snapshot["commands"] if c[1] == "deposit")
    deposit[2]["amount"] += 1


def _unknown(snapshot: dict[str, Any]) -> None:
    snapshot["commands"].append([snapshot["now_ms"], "steal", {}])


def _malformed(snapshot: dict[str, Any]) -> None:
    snapshot["commands"][0] = ["x", "deposit"]


def _failing(snapshot: dict[str, Any]) -> None:
    snapshot["commands"].append(
        [snapshot["now_ms"], "cancel_order", {"user_id": "bob", "order_id": "nope"}]
    )


def _bad_type(snapshot: dict[str, Any]) -> None:
    snapshot["commands"][0][2]["balance"] = "lots"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_amount, "state hash"),
        (_unknown, "unknown command"),
        (_malformed, "must be"),
        (_failing, "failed on replay"),
        (_bad_type, "balance"),
        (lambda s: s.update(format="other"), "format"),
        (lambda s: s.pop("state_hash"), "state_hash"),
        (lambda s: s.update(extra=1), "extra"),
        (lambda s: s["scenario"].update(tickers=["NOPE"]), "does not build"),
    ],
)
def test_bad_snapshots_are_refused(change, message):
    with pytest.raises(snapshots.InvalidSnapshotError, match=message) as info:
        snapshots.import_state(tampered(change))
    assert info.value.code == "invalid_parameters" and info.value.http_status == 400


def test_garbage_bytes_are_refused():
    with pytest.raises(snapshots.InvalidSnapshotError, match="JSON"):
        snapshots.import_state(b"{not json")
    with pytest.raises(snapshots.InvalidSnapshotError):
        snapshots.import_state(b"[]")


def test_an_exchange_built_by_hand_cannot_be_exported():
    from simulator.server.scenarios import build_exchange

    with pytest.raises(ValueError, match="not built"):
        snapshots.export_state(build_exchange(BARE, ManualClock(START)))


# ------------------------------------------------------------------ runtime


def test_a_manual_runtime_imports_onto_a_manual_clock_at_the_snapshot_instant():
    source = Runtime(BARE, clock_mode="manual")
    session(source.exchange, source.exchange.advance)
    snapshot = source.export_state()
    target = Runtime(load_scenario("default"), clock_mode="manual")

    target.import_state(snapshot)

    assert type(target.exchange.clock) is ManualClock
    assert target.exchange.now() == snapshot["now_ms"]
    assert target.state_hash() == snapshot["state_hash"]
    assert (target.scenario.name, target.generation) == ("bare", 1)
    assert target.export_state() == snapshot
    target.exchange.advance(1_000)  # the clock keeps working
    target.reset()
    assert target.exchange.users.keys() == {"demo-user"}


def test_wall_and_accelerated_runtimes_take_a_held_clock_of_their_mode():
    source = Runtime(BARE, clock_mode="manual")
    session(source.exchange, source.exchange.advance)
    snapshot = source.export_state()
    wall = Runtime(BARE, clock_mode="wall")
    fast = Runtime(BARE, clock_mode="accelerated", speed=1_000)

    wall.import_state(snapshot)
    fast.import_state(snapshot)

    assert isinstance(wall.exchange.clock, HeldClock)
    assert isinstance(wall.exchange.clock.source, WallClock)
    assert isinstance(fast.exchange.clock, HeldClock)
    assert isinstance(fast.exchange.clock.source, AcceleratedClock)
    assert fast.exchange.now() >= snapshot["now_ms"]
    assert fast.exchange.users.keys() == source.exchange.users.keys()


def test_a_failed_import_leaves_the_runtime_alone():
    runtime = Runtime(BARE, clock_mode="manual")
    session(runtime.exchange, runtime.exchange.advance)
    before, exchange = runtime.state_hash(), runtime.exchange

    with pytest.raises(snapshots.InvalidSnapshotError):
        runtime.import_state(tampered(_amount))

    assert runtime.exchange is exchange and runtime.generation == 0
    assert runtime.state_hash() == before
