"""The event bus: delivery after the command, isolation, survival across reset and import."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import Side, TimeInForce
from simulator.core import errors
from simulator.core.bus import Batch, EventBus, Feed, Inbox, Item, Reset
from simulator.core.clock import ManualClock
from simulator.core.events import Event, FillExecuted, OrderUpdated, TradeExecuted
from simulator.exchange import Exchange
from simulator.model.orders import AmendOrder, PlaceOrder
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.simulator.factories import dollars, make_exchange

BTC = "KXBTCPERP"


class Recorder:
    """A subscriber that keeps what it is given, and what the exchange looked like then."""

    def __init__(self, ex: Exchange | None = None) -> None:
        self.ex = ex
        self.batches: list[list[tuple[int, Event]]] = []
        self.notices: list[Reset] = []
        self.depth_seen: list[int] = []

    def deliver(self, batch: Batch) -> None:
        self.batches.append(list(batch))
        if self.ex is not None:
            self.depth_seen.append(self.ex._boundary.depth)

    def reset(self, notice: Reset) -> None:
        self.notices.append(notice)

    @property
    def events(self) -> list[tuple[int, Event]]:
        return [item for batch in self.batches for item in batch]


class Raising(Recorder):
    def deliver(self, batch: Batch) -> None:
        super().deliver(batch)
        raise RuntimeError("subscriber bug")


def _funded(ex: Exchange, *names: str) -> list[str]:
    return [ex.create_user(user_id=name, balance=dollars("100000")).user_id for name in names]


def test_a_command_is_delivered_once_it_completed_as_one_batch_in_journal_order():
    ex = make_exchange()
    maker, taker = _funded(ex, "maker", "taker")
    ex.place_order(maker, PlaceOrder(BTC, Side.ASK, 62_600, 500, "m1"))
    recorder = Recorder(ex)
    ex.bus.subscribe(recorder)

    result = ex.place_order(taker, PlaceOrder(BTC, Side.BID, 62_600, 200, "t1"))

    assert recorder.depth_seen == [0]  # the command had finished
    [batch] = recorder.batches
    assert batch == ex.events_since(batch[0][0] - 1)
    kinds = {type(event) for _, event in batch}
    assert {OrderUpdated, FillExecuted, TradeExecuted} <= kinds
    # the order's last update in the batch is what the command answered
    last = [
        e.order
        for _, e in batch
        if type(e) is OrderUpdated and e.order.order_id == (result.order.order_id)
    ][-1]
    assert last == result.order
    assert result.fill_count == 200


def test_a_raising_subscriber_is_logged_and_detached_and_nothing_else_changes(caplog):
    ex = make_exchange()
    [alice] = _funded(ex, "alice")
    raising, calm = Raising(), Recorder()
    ex.bus.subscribe(raising)
    ex.bus.subscribe(calm)

    with caplog.at_level(logging.ERROR, logger="perps_sim.bus"):
        first = ex.place_order(alice, PlaceOrder(BTC, Side.BID, 62_000, 100, "c1"))
        second = ex.place_order(alice, PlaceOrder(BTC, Side.BID, 61_900, 100, "c2"))

    assert first.order.remaining_count == second.order.remaining_count == 100
    assert ex.orders[second.order.order_id].remaining == 100
    assert len(raising.batches) == 1  # detached after the first failure
    assert len(calm.batches) == 2
    assert len(ex.bus) == 1
    assert "subscriber bug" in caplog.text and "detached" in caplog.text


def test_a_rejected_command_delivers_nothing_unless_it_fired_timers():
    ex = make_exchange()
    [alice] = _funded(ex, "alice")
    recorder = Recorder()
    ex.bus.subscribe(recorder)

    with pytest.raises(errors.MarketNotFoundError):
        ex.place_order(alice, PlaceOrder("NOPE", Side.BID, 62_000, 100, "c1"))
    assert recorder.batches == []

    clock = ex.clock
    assert isinstance(clock, ManualClock)
    clock.set(ex.now() + 60_000)  # tickers, marks and refreshes fall due
    with pytest.raises(errors.MarketNotFoundError):
        ex.place_order(alice, PlaceOrder("NOPE", Side.BID, 62_000, 100, "c1"))
    [batch] = recorder.batches
    assert batch and batch[-1][0] == ex.journal.last_seq


def test_commands_called_inside_a_command_are_delivered_with_it():
    # the house market maker re-quotes from a timer: its orders are part of the advance
    runtime = Runtime(load_scenario("default"), clock_mode="manual")
    ex = runtime.exchange
    recorder = Recorder(ex)
    runtime.bus.subscribe(recorder)

    ex.advance(30_000)

    [batch] = recorder.batches
    assert recorder.depth_seen == [0]
    assert any(type(event) is OrderUpdated for _, event in batch)
    assert batch == ex.events_since(batch[0][0] - 1)
    assert [entry[1] for entry in ex.command_log.entries] == ["advance"]


def test_an_amend_that_renames_the_order_carries_the_previous_client_order_id():
    ex = make_exchange()
    [alice] = _funded(ex, "alice")
    placed = ex.place_order(alice, PlaceOrder(BTC, Side.BID, 62_000, 100, "old"))
    recorder = Recorder()
    ex.bus.subscribe(recorder)

    amend = AmendOrder(BTC, Side.BID, 62_100, 100, updated_client_order_id="new")
    ex.amend_order(alice, placed.order.order_id, amend)

    [update] = [e for _, e in recorder.events if type(e) is OrderUpdated]
    assert update.order.client_order_id == "new"
    assert update.previous_client_order_id == "old"
    ex.amend_order(alice, placed.order.order_id, AmendOrder(BTC, Side.BID, 62_200, 100))
    assert (
        next(e for _, e in recorder.batches[-1] if type(e) is OrderUpdated).previous_client_order_id
        is None
    )


def test_subscribers_stay_across_reset_and_import_and_are_told():
    runtime = Runtime(load_scenario("bare"), clock_mode="manual")
    recorder = Recorder()
    runtime.bus.subscribe(recorder)
    user = runtime.exchange.create_user(user_id="u", balance=dollars("1000"))
    runtime.exchange.place_order(user.user_id, PlaceOrder(BTC, Side.BID, 62_000, 100, "c1"))
    snapshot = runtime.export_state()
    delivered = len(recorder.batches)
    assert delivered >= 1

    runtime.reset()
    runtime.exchange.create_user(user_id="v", balance=dollars("5"))
    runtime.import_state(snapshot)
    runtime.exchange.advance(1_000)

    assert [(n.reason, n.generation) for n in recorder.notices] == [("reset", 1), ("import", 2)]
    assert recorder.notices[1].last_seq == runtime.exchange.journal.last_seq - len(
        recorder.batches[-1]
    )
    assert len(recorder.batches) == delivered + 2  # the deposit after reset, the advance


def test_an_exchange_being_replayed_for_import_does_not_publish_to_the_runtime():
    runtime = Runtime(load_scenario("bare"), clock_mode="manual")
    user = runtime.exchange.create_user(user_id="u", balance=dollars("1000"))
    runtime.exchange.place_order(user.user_id, PlaceOrder(BTC, Side.BID, 62_000, 100, "c1"))
    snapshot = runtime.export_state()
    recorder = Recorder()
    runtime.bus.subscribe(recorder)

    runtime.import_state(snapshot)

    assert recorder.batches == []
    assert [n.reason for n in recorder.notices] == ["import"]


def test_an_inbox_only_enqueues_and_its_owner_drains_it_on_its_own_task():
    bus = EventBus()
    inbox = Inbox(accept=lambda event: type(event) is OrderUpdated)
    bus.subscribe(inbox)
    ex = make_exchange()
    ex.bus = bus
    [alice] = _funded(ex, "alice")

    async def consume() -> list[Item]:
        waiting = asyncio.ensure_future(inbox.wait())
        await asyncio.sleep(0)
        assert not waiting.done()
        ex.place_order(alice, PlaceOrder(BTC, Side.BID, 62_000, 100, "c1"))
        await waiting
        return list(inbox.drain())

    items = asyncio.run(consume())
    assert [type(item[1]) for item in items if not isinstance(item, Reset)] == [OrderUpdated]
    assert len(inbox) == 0


def test_an_inbox_past_its_limit_drops_everything_and_says_so():
    inbox = Inbox(limit=3)
    inbox.deliver([(i, _dummy(i)) for i in range(1, 5)])
    assert inbox.overflowed and len(inbox) == 0
    inbox.reset(Reset("reset", 1, 0))
    assert len(inbox) == 0


def _dummy(i: int) -> Event:
    from simulator.core.events import BalanceChanged

    return BalanceChanged(i, "u", 0, 1, i, "deposit")


_ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["place", "cross", "cancel", "advance", "reject", "deposit"]),
        st.integers(0, 9),
    ),
    max_size=25,
)


@settings(max_examples=30, deadline=None)
@given(_ACTIONS)
def test_no_event_is_lost_or_reordered(actions):
    ex = make_exchange(journal_retain=1_000_000)
    users = _funded(ex, "a", "b")
    start = ex.journal.last_seq
    recorder = Recorder(ex)
    ex.bus.subscribe(recorder)
    placed: list[str] = []
    for n, (action, k) in enumerate(actions):
        user = users[k % 2]
        try:
            if action == "place":
                price = 61_000 + 100 * k if k % 2 else 63_000 + 100 * k
                side = Side.BID if k % 2 else Side.ASK
                result = ex.place_order(user, PlaceOrder(BTC, side, price, 100, f"c{n}"))
                placed.append(result.order.order_id)
            elif action == "cross":
                side = Side.BID if k % 2 else Side.ASK
                price = 70_000 if side is Side.BID else 50_000
                tif = TimeInForce.IMMEDIATE_OR_CANCEL
                ex.place_order(user, PlaceOrder(BTC, side, price, 100, f"x{n}", tif))
            elif action == "cancel" and placed:
                order = ex.orders[placed[k % len(placed)]]
                ex.cancel_order(order.user_id, order.order_id)
            elif action == "advance":
                ex.advance(250 * k)
            elif action == "deposit":
                ex.deposit(user, dollars("10"))
            else:
                ex.place_order(user, PlaceOrder("NOPE", Side.BID, 1, 100, f"r{n}"))
        except errors.RejectError:
            pass
    assert recorder.events == ex.events_since(start)
    assert [seq for seq, _ in recorder.events] == list(range(start + 1, ex.journal.last_seq + 1))
    assert all(depth == 0 for depth in recorder.depth_seen)


def test_a_feed_listens_only_while_started_and_survives_a_failing_delivery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[list[Item]] = []

    def deliver(items: list[Item]) -> None:
        seen.append(items)
        if len(seen) == 1:
            raise RuntimeError("boom")

    async def run() -> None:
        feed = Feed(bus, deliver, name="test feed")
        assert len(bus) == 0
        feed.start()
        feed.start()  # idempotent
        assert feed.active and len(bus) == 1
        notice = Reset("reset", 1, 0)
        bus.announce(notice)
        feed.pump()  # delivered at once; it raises and is logged
        bus.announce(notice)
        await asyncio.sleep(0)  # the feed's task turn
        await asyncio.sleep(0)
        await feed.aclose()
        assert len(bus) == 0
        bus.announce(notice)  # nobody listens now

    asyncio.run(run())
    assert seen == [[Reset("reset", 1, 0)], [Reset("reset", 1, 0)]]
    assert "test feed delivery failed" in caplog.text
