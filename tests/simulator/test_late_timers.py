"""Timers that are late when a command arrives fire at their own instants (wall-clock modes)."""

from __future__ import annotations

from matching import Side, TimeInForce
from simulator.core.command_log import HeldClock
from simulator.core.events import TickerChanged
from simulator.exchange import Exchange
from simulator.model.orders import PlaceOrder
from tests.simulator.factories import T0, dollars, make_spec


class SteppedWall:
    """A stand-in for the wall clock that moves only when a test says so."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


def _order(price: str, client_order_id: str) -> PlaceOrder:
    from simulator.core.money import parse_count, parse_price

    return PlaceOrder(
        "KXBTCPERP",
        Side.BID,
        parse_price(price),
        parse_count("1"),
        client_order_id,
        TimeInForce.GOOD_TILL_CANCELED,
    )


def test_a_command_after_a_stall_fires_late_timers_at_their_due_times() -> None:
    wall = SteppedWall(T0)
    ex = Exchange([make_spec("KXBTCPERP")], clock=HeldClock(wall), seed=3)
    ex.create_user(user_id="u", api_key_id="k", balance=dollars("1000"))
    ex.place_order("u", _order("6.2000", "first"))
    wall.now = T0 + 5_500  # the driver never ran: five whole seconds of timers are late
    ex.place_order("u", _order("6.2100", "second"))
    events = [event for _, event in ex.events_since(0)]
    stamps = [event.ts_ms for event in events]
    assert stamps == sorted(stamps)
    tickers = [event.ts_ms for event in events if isinstance(event, TickerChanged)]
    assert tickers == [T0, T0 + 1_000]  # the first book change's ticker came on time
    assert max(stamps) == T0 + 5_500
    assert ex.now() == T0 + 5_500
