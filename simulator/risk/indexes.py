"""Read models over the exchange's records: each user's orders and fills, markets by id, and
the status an order is listed under.

Every transport lists from these (REST `GET /margin/orders` and `/margin/fills`, WS snapshots,
FIX mass status), so they live next to the records, not in a transport. They are caught up on
demand from the exchange's tables, which only grow between retention sweeps: a read costs what
was added since the last one, never a scan of everything. Nothing here changes exchange state;
the indexes only remember how far they have read.

Retention (`simulator.risk.retention`) drops old done orders and old fills in batches: it
catches the indexes up first, drops the records from the tables, then tells the indexes what
it dropped (`OrderIndex.forget`, `FillIndex.compacted`). Each of a user's orders and fills keeps
the number it was given when indexed (its place among the user's orders or fills, counting
from 0), so cursors that name numbers stay valid whatever was dropped since.

Each index belongs to one exchange; `reset` and a state import build a new exchange and with it
new indexes. `rename_market` rewrites orders and fills in place (same objects, same positions),
so what an index holds stays valid. Must not import a transport or `simulator.exchange`.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    """Where the exchange keeps its orders: by order id, in acceptance order (only retention
    removes any)."""

    @property
    def orders(self) -> dict[str, OrderRecord]: ...


class FillTable(Protocol):
    """Where the exchange keeps its fills: a list that only grows (rewritten in place), but for
    what retention drops."""

    @property
    def fills(self) -> list[FillRecord]: ...


class MarketTable(Protocol):
    """Where the exchange keeps its markets, by ticker (a rename keeps the `MarketData`)."""

    @property
    def markets(self) -> dict[str, MarketData]: ...


class OrderIndex:
    """Each user's orders in creation order, each with its number among the user's orders.

    Between retention sweeps the exchange only adds orders, so the orders added since the last
    read are the last entries of its dict.
    """

    def __init__(self, table: OrderTable) -> None:
        self._table = table
        self._seen = 0
        self._by_user: dict[str, list[OrderRecord]] = {}
        self._numbers: dict[str, list[int]] = {}
        self._counts: dict[str, int] = {}

    def of(self, user_id: str) -> list[OrderRecord]:
        """The user's orders, oldest first (the index's own list: do not change it)."""
        self.catch_up()
        return self._by_user.get(user_id, [])

    def numbers(self, user_id: str) -> list[int]:
        """The numbers of the orders `of(user_id)` lists, ascending (do not change the list)."""
        self.catch_up()
        return self._numbers.get(user_id, [])

    def count(self, user_id: str) -> int:
        """How many orders the user has placed (the next order's number)."""
        self.catch_up()
        return self._counts.get(user_id, 0)

    def catch_up(self) -> None:
        """Index the orders added since the last read."""
        orders = self._table.orders
        new = len(orders) - self._seen
        if new < 0:  # never expected: start over rather than serve stale orders
            self._seen, new = 0, len(orders)
            self._by_user.clear()
            self._numbers.clear()
            self._counts.clear()
        if new:
            by_user, numbers, counts = self._by_user, self._numbers, self._counts
            for record in reversed(list(islice(reversed(orders.values()), new))):
                user_id = record.user_id
                number = counts.get(user_id, 0)
                counts[user_id] = number + 1
                found = by_user.get(user_id)
                if found is None:
                    by_user[user_id] = [record]
                    numbers[user_id] = [number]
                else:
                    found.append(record)
                    numbers[user_id].append(number)
            self._seen = len(orders)

    def forget(self, records: Iterable[OrderRecord]) -> None:
        """Drop orders the exchange removed from its table (indexed before: `catch_up`)."""
        gone: dict[str, set[str]] = {}
        for record in records:
            gone.setdefault(record.user_id, set()).add(record.order_id)
        for user_id, ids in gone.items():
            found, numbers = self._by_user[user_id], self._numbers[user_id]
            kept = [i for i, record in enumerate(found) if record.order_id not in ids]
            self._by_user[user_id] = [found[i] for i in kept]
            self._numbers[user_id] = [numbers[i] for i in kept]
        self._seen = len(self._table.orders)


class FillIndex:
    """Positions in the exchange's fill list of each user's fills.

    Between retention sweeps the exchange only appends fills (a market rename rewrites them in
    place), so positions stay valid and the fills since the last read are the list's tail. A
    user's fills are dropped oldest first: `dropped(user_id) + i` numbers the `i`-th of `of`.
    """

    def __init__(self, table: FillTable) -> None:
        self._table = table
        self._seen = 0
        self._by_user: dict[str, list[int]] = {}
        self._dropped: dict[str, int] = {}

    def of(self, user_id: str) -> list[int]:
        """Positions of the user's fills, oldest first (the index's own list: do not change it)."""
        self.catch_up()
        return self._by_user.get(user_id, [])

    def dropped(self, user_id: str) -> int:
        """How many of the user's fills retention dropped (the number of the oldest listed)."""
        return self._dropped.get(user_id, 0)

    def users(self) -> dict[str, list[int]]:
        """Positions of every user's fills (caught up; the index's own lists)."""
        self.catch_up()
        return self._by_user

    def catch_up(self) -> None:
        """Index the fills appended since the last read."""
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

    def compacted(self, dropped: dict[str, int]) -> None:
        """The exchange dropped the oldest `dropped[user]` fills of some users (indexed before)
        and closed the gaps in its list: index it again."""
        for user_id, count in dropped.items():
            self._dropped[user_id] = self._dropped.get(user_id, 0) + count
        self._by_user = {}
        self._seen = 0
        self.catch_up()


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
