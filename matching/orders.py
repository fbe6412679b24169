"""The resting order: the one mutable record the book keeps per live order.

Deviation: orders and events are `msgspec.Struct`s rather than slotted classes because they
are built on every operation and a Struct is built about 2.8x faster (79 ns against 221 ns
for eight fields, measured with `timeit` on CPython 3.11 on the project's 2-core machine).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeAlias

import msgspec

from matching.enums import SelfTradePrevention, Side

OrderId: TypeAlias = Hashable
"""Caller-chosen order key (the simulator uses its order ids); unique within a book."""

Owner: TypeAlias = Hashable
"""Opaque owner key (the simulator passes user and subaccount); compared for equality only."""


class Order(msgspec.Struct, gc=False):
    """A resting order.

    `remaining` is the count still on the book and `filled` what has traded so far, both in
    1/100 contract. An order that leaves the book (filled, cancelled, replaced by an amend
    that loses priority) has `remaining == 0`; the book never keeps such an order live.
    `arrival` orders the queue: a larger value arrived later at its price level.
    """

    order_id: OrderId
    owner: Owner
    side: Side
    price: int
    remaining: int
    filled: int
    post_only: bool
    stp: SelfTradePrevention
    expires_at: int | None
    arrival: int
