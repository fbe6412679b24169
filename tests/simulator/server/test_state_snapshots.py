"""State snapshots: a pickled exchange restored mid-run behaves exactly like the original.

For every shipped scenario a scripted run (orders that fill and rest, a cancel, deposits, hours
of time so that bots, noise takers, liquidations and funding fire) is snapshotted half-way and
restored into a fresh exchange; the restored copy then gets the same commands as an
uninterrupted run, and both must publish the same events and reach the same state hash.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pytest

from matching import Side
from simulator.core.clock import ManualClock
from simulator.core.money import parse_dollars
from simulator.exchange import Exchange
from simulator.model.orders import PlaceOrder
from simulator.server import snapshots, state_pickle
from simulator.server.scenarios import load_scenario
from simulator.server.state_hash import state_hash
from tests.simulator.server.test_snapshots import events, more, session

BTC, ETH = "KXBTCPERP", "KXETHPERP"
MINUTE = 60_000
HOUR = 60 * MINUTE
SCENARIOS = ("default", "bare", "volatile", "funding", "liquidation-cascade")


def fresh(name: str) -> Exchange:
    scenario = load_scenario(name)
    return snapshots.build(scenario, ManualClock(scenario.start_ms))


def reference(ex: Exchange, ticker: str) -> int:
    value = ex.markets[ticker].reference
    assert value is not None
    return value[0]


def first_half(ex: Exchange) -> None:
    d = parse_dollars
    ex.create_user(user_id="alice", balance=d("5000"))
    ex.create_user(user_id="bob", balance=d("5000"))
    ex.deposit("alice", d("100"))
    price = reference(ex, BTC)
    ex.place_order("bob", PlaceOrder(BTC, Side.ASK, price, 300, "b-1"))
    ex.place_order("alice", PlaceOrder(BTC, Side.BID, price, 200, "a-1"))
    resting = ex.place_order("alice", PlaceOrder(BTC, Side.BID, price - 900, 100, "a-2"))
    ex.advance(20 * MINUTE)  # the liquidation cascade's crash is ten minutes in
    ex.cancel_order("alice", resting.order.order_id)
    ex.advance(40 * MINUTE)


def second_half(ex: Exchange) -> None:
    d = parse_dollars
    price = reference(ex, ETH)
    ex.place_order("alice", PlaceOrder(ETH, Side.BID, price, 100, "a-3"))
    ex.place_order("bob", PlaceOrder(ETH, Side.ASK, price, 100, "b-3"))
    ex.deposit("bob", d("5"))
    ex.advance(2 * HOUR + 30 * MINUTE)
    ex.place_order("bob", PlaceOrder(BTC, Side.ASK, reference(ex, BTC) + 500, 100, "b-4"))
    ex.advance(35 * MINUTE)  # past 04:00 UTC, a funding time


def encoded(events: Sequence[tuple[int, object]]) -> bytes:
    return msgspec.json.encode(events)


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_snapshot_restored_half_way_continues_like_the_uninterrupted_run(name: str) -> None:
    straight = fresh(name)
    first_half(straight)
    mark, before = straight.journal.last_seq, state_hash(straight)
    base = snapshots.take(straight)  # reads only: the straight run goes on untouched
    assert state_hash(straight) == before == base.state_hash
    second_half(straight)

    restored, _ = snapshots.restore(base)
    second_half(restored)

    assert base.state_hash != state_hash(restored)  # the second half changed something
    assert encoded(restored.events_since(mark)) == encoded(straight.events_since(mark))
    assert state_hash(restored) == state_hash(straight)
    assert restored.command_log.base is base
    assert len(restored.command_log) == len(straight.command_log) - base.commands


def test_the_second_half_fires_funding_and_fills() -> None:
    # what the script is for: it reaches funding and fills after the snapshot point
    ex = fresh("funding")
    first_half(ex)
    mark = ex.journal.last_seq
    second_half(ex)

    kinds = {type(event).__name__ for _, event in ex.events_since(mark)}

    assert {"FundingRateSet", "FundingPaid", "FillExecuted"} <= kinds


def test_liquidations_fire_before_the_snapshot_point() -> None:
    ex = fresh("liquidation-cascade")

    first_half(ex)

    kinds = {type(event).__name__ for _, event in ex.events_since(0)}
    assert "LiquidationStep" in kinds


class _Listener:
    def __init__(self) -> None:
        self.seen = lambda batch: None

    def deliver(self, batch: object, /) -> None:
        self.seen(batch)

    def reset(self, notice: object, /) -> None:
        """Nothing to forget: these runs are never reset."""


def test_a_snapshot_leaves_out_the_bus_the_log_entries_and_the_clock() -> None:
    ex = fresh("default")
    first_half(ex)
    ex.bus.subscribe(_Listener())  # holds a closure: would not pickle

    restored = state_pickle.loads(state_pickle.dumps(ex))

    assert len(restored.bus) == 0
    assert restored.command_log.entries == [] and restored.command_log.sink is None
    assert isinstance(restored.clock, ManualClock) and restored.now() == ex.now()
    assert restored.command_log.origin == ex.command_log.origin


def test_restore_refuses_a_wrong_checksum_or_state_hash() -> None:
    ex = fresh("bare")
    first_half(ex)
    base = snapshots.take(ex)

    damaged = base.snapshot[:-1] + bytes([base.snapshot[-1] ^ 1])
    with pytest.raises(snapshots.InvalidSnapshotError, match="checksum"):
        snapshots.restore(type(base)(damaged, base.sha256, base.state_hash, 0, 0))
    with pytest.raises(snapshots.InvalidSnapshotError, match="state hash"):
        snapshots.restore(type(base)(base.snapshot, base.sha256, "0" * 64, 0, 0))


def test_groups_exit_triggers_and_corporate_actions_survive_a_snapshot() -> None:
    # the session of test_snapshots: transfers, an order group, an exit trigger, a scheduled
    # corporate action (a timer of its own), pins and fills
    straight = fresh("bare")
    session(straight, straight.advance)
    base = snapshots.take(straight)
    restored, _ = snapshots.restore(base)

    more(straight, straight.advance)
    more(restored, restored.advance)

    assert state_hash(restored) == state_hash(straight)
    assert events(restored) == events(straight)
    assert restored.corporate_actions.list() == straight.corporate_actions.list()


def test_a_maintenance_window_timer_survives_a_snapshot() -> None:
    scenario = msgspec.structs.replace(load_scenario("bare"), config={"maintenance_window": True})
    straight = snapshots.build(scenario, ManualClock(scenario.start_ms))
    restored, _ = snapshots.restore(snapshots.take(straight))

    for ex in (straight, restored):
        ex.advance(5 * 24 * HOUR)  # past Thursday 03:00-05:00 New York

    assert state_hash(restored) == state_hash(straight)
    kinds = [type(event).__name__ for _, event in restored.events_since(0)]
    assert kinds.count("ExchangeChanged") >= 2
