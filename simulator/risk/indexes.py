"""Read models over the exchange's records: each user's orders and fills, markets by id, and
the status an order is listed under.

Every transport lists from these (REST `GET /margin/orders` and `/margin/fills`, WS snapshots,
FIX mass status), so they live next to the records, not in a transport. They are caught up on
demand from the exchange's append-only tables: a read costs what was added since the last one,
never a scan of everything. Nothing here changes exchange state; the indexes only remember how
far they have read. Must not import a transport or `simulator.exchange`.

Each index belongs to one exchange; `reset` and a state import build a new exchange and with it
new indexes. `rename_market` rewrites orders and fills in place (same objects, same positions),
so what an index holds stays valid.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import islice
from typing import Protocol

from simulator.core.events import FillRecord
from simulator.model.market_data import MarketData
from simulator.model.orders import OrderRecord

__all__ = [
    "FillIndex",
    "FillTable",
    "MarketIndex",
    "MarketTable",
    "OrderIndex",
    "OrderStatus",
    "OrderTable",
    "order_status",
]


class OrderStatus(StrEnum):
    """The status an order is listed under (the `status` filter of `GET /margin/orders`).

    Assumption: Kalshi's usual values: `resting` (remaining > 0), `executed` (fully filled)
    and `canceled` (done with part or all of the size unfilled: cancelled, decreased to zero,
    expired, or an immediate-or-cancel remainder).
    """

    RESTING = "resting"
    CANCELED = "canceled"
    EXECUTED = "executed"


def order_status(record: OrderRecord) -> OrderStatus:
    """`resting`, `executed` or `canceled` (see `OrderStatus`)."""
    if record.remaining > 0:
        return OrderStatus.RESTING
    return OrderStatus.EXECUTED if record.fill_count >= record.count else OrderStatus.CANCELED


class OrderTable(Protocol):
    """Where the exchange keeps its orders: by order id, in acceptance order, never removed."""

    @property
    def orders(self) -> dict[str, OrderRecord]: ...


class FillTable(Protocol):
    """Where the exchange keeps its fills: a list that only grows (rewritten in place)."""

    @property
    def fills(self) -> list[FillRecord]: ...


class MarketTable(Protocol):
    """Where the exchange keeps its markets, by ticker (a rename keeps the `MarketData`)."""

    @property
    def markets(self) -> dict[str, MarketData]: ...


class OrderIndex:
    """Each user's orders in creation order.

    The exchange only ever adds orders, so the orders added since the last read are the last
    entries of its dict.
    """

    def __init__(self, table: OrderTable) -> None:
        self._table = table
        self._seen = 0
        self._by_user: dict[str, list[OrderRecord]] = {}

    def of(self, user_id: str) -> list[OrderRecord]:
        """The user's orders, oldest first (the index's own list: do not change it)."""
        orders = self._table.orders
        new = len(orders) - self._seen
        if new < 0:  # never expected: start over rather than serve stale orders
            self._seen, new = 0, len(orders)
            self._by_user.clear()
        if new:
            by_user = self._by_user
            for record in reversed(list(islice(reversed(orders.values()), new))):
                found = by_user.get(record.user_id)
                if found is None:
                    by_user[record.user_id] = [record]
                else:
                    found.append(record)
            self._seen = len(orders)
        return self._by_user.get(user_id, [])


class FillIndex:
    """Positions in the exchange's fill list of each user's fills.

    The exchange only appends fills (a market rename rewrites them in place), so positions stay
    valid and the fills since the last read are the list's tail.
    """

    def __init__(self, table: FillTable) -> None:
        self._table = table
        self._seen = 0
        self._by_user: dict[str, list[int]] = {}

    def of(self, user_id: str) -> list[int]:
        """Positions of the user's fills, oldest first (the index's own list: do not change it)."""
        fills = self._table.fills
        size = len(fills)
        if size < self._seen:  # never expected: start over rather than serve stale positions
            self._seen = 0
            self._by_user.clear()
        by_user = self._by_user
        for position in range(self._seen, size):
            owner = fills[position].user_id
            found = by_user.get(owner)
            if found is None:
                by_user[owner] = [position]
            else:
                found.append(position)
        self._seen = size
        return by_user.get(user_id, [])


class MarketIndex:
    """Markets by their stable `market_id` (MarginMarket has both; orders may name either).

    Assumption: market ids are unique; if two markets shared one, the first listed wins.
    """

    def __init__(self, table: MarketTable) -> None:
        self._table = table
        self._by_id: dict[str, MarketData] = {}
        self._seen = -1

    def get(self, market_id: str) -> MarketData | None:
        """The market with this id, or None."""
        markets = self._table.markets
        if len(markets) != self._seen:
            self._rebuild(markets)
        found = self._by_id.get(market_id)
        if found is not None and (
            found.market.spec.market_id != market_id or markets.get(found.ticker) is not found
        ):  # never expected (ids are fixed, renames keep the data): look again
            self._rebuild(markets)
            found = self._by_id.get(market_id)
        return found

    def _rebuild(self, markets: dict[str, MarketData]) -> None:
        by_id: dict[str, MarketData] = {}
        for data in markets.values():
            by_id.setdefault(data.market.spec.market_id, data)
        self._by_id = by_id
        self._seen = len(markets)
