"""Events an operation on the book returns, in the order they happened.

Every event carries `seq`, the book's own counter: it starts at 1 and grows by one per
event, so a consumer can order events and notice a gap. Three kinds:

- `Fill`: a trade between a resting (maker) order and an incoming (taker) order, at the
  maker's price.
- `OrderUpdate`: the new state of one order, with Kalshi's `last_update_reason`.
- `LevelChange`: one order's change to one price level, with the level's new aggregate
  count (0 when the level is gone) and the signed change, for market data.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from matching.enums import Reason, Side
from matching.orders import OrderId, Owner


class Fill(msgspec.Struct, frozen=True, gc=False, tag=True):
    """A trade of `count` at `price`; `aggressor` is the taker's side."""

    seq: int
    price: int
    count: int
    aggressor: Side
    maker_order_id: OrderId
    maker_owner: Owner
    taker_order_id: OrderId
    taker_owner: Owner


class OrderUpdate(msgspec.Struct, frozen=True, gc=False, tag=True):
    """An order's state after a change: `remaining == 0` means it is off the book."""

    seq: int
    order_id: OrderId
    owner: Owner
    side: Side
    price: int
    filled: int
    remaining: int
    reason: Reason


class LevelChange(msgspec.Struct, frozen=True, gc=False, tag=True):
    """Price level (`side`, `price`) now holds `count`; `delta` is the signed change."""

    seq: int
    side: Side
    price: int
    count: int
    delta: int
    order_id: OrderId
    owner: Owner
    reason: Reason


Event: TypeAlias = Fill | OrderUpdate | LevelChange
