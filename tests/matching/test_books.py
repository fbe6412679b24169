"""Unit tests of `matching.OrderBooks`: one book per market and the cross-market commands."""

from __future__ import annotations

import pytest

from matching import (
    InvalidOrderError,
    OrderBooks,
    OrderUpdate,
    Reason,
    Side,
    UnknownMarketError,
)


@pytest.fixture
def books() -> OrderBooks:
    books = OrderBooks()
    books.add("BTC")
    books.add("ETH")
    return books


def test_each_market_has_its_own_book_and_sequence(books: OrderBooks) -> None:
    books["BTC"].place("a", "u1", Side.BID, 100, 100)

    assert books["BTC"].seq == 2
    assert books["ETH"].seq == 0
    assert list(books) == ["BTC", "ETH"]
    assert len(books) == 2
    assert "BTC" in books


def test_adding_a_market_twice_raises(books: OrderBooks) -> None:
    with pytest.raises(InvalidOrderError):
        books.add("BTC")


def test_unknown_market_raises(books: OrderBooks) -> None:
    with pytest.raises(UnknownMarketError, match="SOL"):
        books["SOL"]


def test_cancel_owner_everywhere_goes_market_by_market(books: OrderBooks) -> None:
    books["ETH"].place("e", "u1", Side.ASK, 200, 100)
    books["BTC"].place("b", "u1", Side.BID, 100, 100)
    books["BTC"].place("x", "u2", Side.BID, 100, 100)

    result = books.cancel_owner("u1", reason=Reason.MARGIN_CANCEL)

    cancelled = [
        (market, e.order_id, e.reason)
        for market, events in result
        for e in events
        if isinstance(e, OrderUpdate)
    ]
    assert cancelled == [("BTC", "b", Reason.MARGIN_CANCEL), ("ETH", "e", Reason.MARGIN_CANCEL)]
    assert len(books["BTC"]) == 1


def test_cancel_owner_in_one_market_leaves_the_others(books: OrderBooks) -> None:
    books["ETH"].place("e", "u1", Side.ASK, 200, 100)
    books["BTC"].place("b", "u1", Side.BID, 100, 100)

    result = books.cancel_owner("u1", market="ETH")

    assert [market for market, _ in result] == ["ETH"]
    assert len(books["BTC"]) == 1
    with pytest.raises(UnknownMarketError):
        books.cancel_owner("u1", market="SOL")


def test_expire_and_next_expiry_span_markets(books: OrderBooks) -> None:
    books["BTC"].place("b", "u1", Side.BID, 100, 100, expires_at=30)
    books["ETH"].place("e", "u1", Side.ASK, 200, 100, expires_at=20)

    assert books.next_expiry() == 20
    assert [market for market, _ in books.expire(25)] == ["ETH"]
    assert books.next_expiry() == 30
    books.expire(30)
    assert books.next_expiry() is None
