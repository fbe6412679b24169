"""The books of every market, for the commands that span markets: mass cancel and expiry."""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from matching.book import OrderBook
from matching.enums import Reason
from matching.errors import InvalidOrderError, UnknownMarketError
from matching.events import Event
from matching.orders import Owner


class OrderBooks:
    """One `OrderBook` per market key, kept in the order markets were added.

    Cross-market commands return `(market, events)` pairs in that order, leaving out markets
    where nothing happened, so their output is deterministic.
    """

    __slots__ = ("_books",)

    def __init__(self) -> None:
        self._books: dict[Hashable, OrderBook] = {}

    def add(self, market: Hashable) -> OrderBook:
        """Create and return the book for a new market.

        Raises:
            InvalidOrderError: the market already has a book.
        """
        if market in self._books:
            raise InvalidOrderError(f"market {market!r} already has a book")
        book = self._books[market] = OrderBook()
        return book

    def __getitem__(self, market: Hashable) -> OrderBook:
        book = self._books.get(market)
        if book is None:
            raise UnknownMarketError(f"no book for market {market!r}")
        return book

    def __contains__(self, market: object) -> bool:
        return market in self._books

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._books)

    def __len__(self) -> int:
        return len(self._books)

    def cancel_owner(
        self, owner: Owner, market: Hashable | None = None, reason: Reason = Reason.NONE
    ) -> list[tuple[Hashable, list[Event]]]:
        """Cancel the owner's live orders in one market, or in every market when None.

        Raises:
            UnknownMarketError: `market` has no book.
        """
        markets = list(self._books) if market is None else [market]
        out = []
        for key in markets:
            events = self[key].cancel_owner(owner, reason)
            if events:
                out.append((key, events))
        return out

    def expire(self, now: int) -> list[tuple[Hashable, list[Event]]]:
        """Expire, in every market, the orders whose `expires_at <= now`."""
        out = []
        for market, book in self._books.items():
            events = book.expire(now)
            if events:
                out.append((market, events))
        return out

    def next_expiry(self) -> int | None:
        """Earliest `expires_at` of any live order in any market, or None."""
        times = [t for t in (book.next_expiry() for book in self._books.values()) if t is not None]
        return min(times) if times else None
