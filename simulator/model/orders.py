"""Order commands as the exchange receives them, and the order record it keeps.

Transports parse wire requests into `PlaceOrder` / `AmendOrder` (integer units, times in epoch
ms) and call the exchange; the exchange keeps one `OrderRecord` per order it accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from matching import Reason, SelfTradePrevention, Side, TimeInForce
from simulator.core.events import Event, FillExecuted, OrderSnapshot, OrderUpdated

__all__ = ["AmendOrder", "OrderRecord", "OrderResult", "PlaceOrder", "order_result"]


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """A new-order command (CreateMarginOrderRequest in integer units)."""

    ticker: str
    side: Side
    price: int
    count: int
    client_order_id: str
    time_in_force: TimeInForce = TimeInForce.GOOD_TILL_CANCELED
    self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS
    post_only: bool = False
    reduce_only: bool = False
    expiration_ms: int | None = None
    cancel_order_on_pause: bool = False
    subaccount: int = 0
    order_group_id: str | None = None
    market_version: int = 0


@dataclass(frozen=True, slots=True)
class AmendOrder:
    """An amend command (AmendMarginOrderRequest): `count` is the new total including fills.

    `expiration_ms`: None keeps the expiry, 0 clears it, otherwise a future instant.
    """

    ticker: str
    side: Side
    price: int
    count: int
    client_order_id: str | None = None
    updated_client_order_id: str | None = None
    expiration_ms: int | None = None
    subaccount: int = 0


class OrderResult(msgspec.Struct, frozen=True, gc=False):
    """Outcome of a place or amend: the order after matching and what this command filled."""

    order: OrderSnapshot
    fill_count: int
    fill_value: int
    fees: int


def order_result(order_id: str, events: Sequence[Event]) -> OrderResult:
    """The order as its last update in `events` left it, and what `events` filled of it.

    This is how a place or amend command answers: from its own events, the facts every
    transport renders.

    Raises:
        LookupError: `events` hold no update of the order.
    """
    snapshot: OrderSnapshot | None = None
    count = value = fees = 0
    for event in events:
        kind = type(event)
        if kind is OrderUpdated:
            order = event.order  # type: ignore[union-attr]
            if order.order_id == order_id:
                snapshot = order
        elif kind is FillExecuted:
            fill = event.fill  # type: ignore[union-attr]
            if fill.order_id == order_id:
                count += fill.count
                value += fill.price * fill.count
                fees += fill.fee
    if snapshot is None:
        raise LookupError(f"no update of order {order_id} among the events")
    return OrderResult(snapshot, count, value, fees)


class OrderRecord(msgspec.Struct, gc=False):
    """The exchange's record of one order (live while `remaining > 0` and on the book).

    A Struct rather than a dataclass: one is built for every order and the exchange keeps
    them all; it holds only scalars, so the garbage collector need not track it.
    """

    order_id: str
    user_id: str
    subaccount: int
    ticker: str
    client_order_id: str
    side: Side
    price: int
    count: int
    time_in_force: TimeInForce
    post_only: bool
    reduce_only: bool
    self_trade_prevention: SelfTradePrevention
    expiration_ms: int | None
    created_ms: int
    cancel_order_on_pause: bool
    order_group_id: str | None
    order_source: str
    order_reason: str | None
    fill_count: int = 0
    remaining: int = 0
    last_update_ms: int = 0
    last_update_reason: Reason = Reason.NONE
    fill_value: int = 0
    fees: int = 0
    trigger_id: str | None = None
    fresh: bool = True

    def snapshot(self) -> OrderSnapshot:
        # positional on purpose: this runs for every order update (see OrderSnapshot's fields)
        return OrderSnapshot(
            self.order_id,
            self.user_id,
            self.subaccount,
            self.ticker,
            self.client_order_id,
            self.side,
            self.price,
            self.count,
            self.fill_count,
            self.remaining,
            self.time_in_force,
            self.post_only,
            self.reduce_only,
            self.self_trade_prevention,
            self.expiration_ms,
            self.created_ms,
            self.last_update_ms,
            self.last_update_reason,
            self.cancel_order_on_pause,
            self.order_group_id,
            self.order_source,
            self.order_reason,
            self.fill_value,
            self.fees,
        )
