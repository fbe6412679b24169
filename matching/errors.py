"""Errors the order book raises.

- `MatchingError`: root; every error below is a `ValueError` too.
  - `InvalidOrderError`: a price or count out of range, or parameters that do not fit.
  - `DuplicateOrderError`: an order id already live on the book.
  - `OrderNotFoundError`: no live order with that id.
  - `UnknownMarketError`: no book for that market.
- `BookInvariantError` (an `AssertionError`): the book's structure is broken. A bug, never
  a rejection: callers must not catch it.
"""

from __future__ import annotations


class MatchingError(ValueError):
    """Root of the book's rejections of a call."""


class InvalidOrderError(MatchingError):
    """A price, count or parameter combination the book cannot accept."""


class DuplicateOrderError(MatchingError):
    """The order id is already live on this book."""


class OrderNotFoundError(MatchingError, KeyError):
    """No live order has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownMarketError(MatchingError, KeyError):
    """No book is kept for this market."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class BookInvariantError(AssertionError):
    """A structural invariant of the book does not hold."""
