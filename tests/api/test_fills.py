"""`GET /margin/fills`: exact fill values, PnL on close, pagination, errors.

KXBTCPERP: maker fee 5 bps, taker fee 12 bps of notional, each rounded up to $0.0001.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.served import Served
from tests.api.test_orders import START, START_S, advance, new_user, place


@pytest.fixture
def other(fresh: Served) -> Iterator[httpx.Client]:
    with new_user(fresh) as c:
        yield c


def fills(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/margin/fills", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["fills"]
    return found


def test_both_sides_of_a_trade(client: httpx.Client, other: httpx.Client) -> None:
    bid = place(client, client_order_id="bid")
    ask = place(other, client_order_id="ask", side="ask", count="4", price="6.2500")
    [maker] = fills(client)
    [taker] = fills(other)
    # notional 4 x 6.2590 = 25.0360: maker 0.012518 -> 0.0126, taker 0.0300432 -> 0.0301
    assert maker == {
        "fill_id": maker["fill_id"],
        "order_id": bid["order_id"],
        "is_taker": False,
        "side": "bid",
        "count": "4.00",
        "created_time": START,
        "ticker": "KXBTCPERP",
        "price": "6.2590",
        "entry_price": "0.0000",
        "fees": "0.0126",
        "realized_pnl": "0.0000",
        "order_source": "user",
    }
    assert taker == {
        **maker,
        "fill_id": taker["fill_id"],
        "order_id": ask["order_id"],
        "is_taker": True,
        "side": "ask",
        "fees": "0.0301",
    }
    assert maker["fill_id"] != taker["fill_id"]


def test_closing_fill_realizes_pnl(
    fresh: Served, client: httpx.Client, other: httpx.Client
) -> None:
    place(client, client_order_id="open")
    place(other, client_order_id="sell", side="ask", count="4", price="6.2590")
    advance(fresh, 1_000)
    place(other, client_order_id="buy", side="bid", count="4", price="6.3000")
    place(client, client_order_id="close", side="ask", count="4", price="6.3000")
    close, opening = fills(client)
    # long 4 @ 6.2590 sold 4 @ 6.3000: 4 x 0.0410 = 0.1640; taker fee ceil(25.2 x 0.0012)
    assert (close["side"], close["is_taker"], close["price"]) == ("ask", True, "6.3000")
    assert (close["entry_price"], close["realized_pnl"], close["fees"]) == (
        "6.2590",
        "0.1640",
        "0.0303",
    )
    assert close["created_time"] == "2026-06-15T00:00:01.000Z"
    assert opening["realized_pnl"] == "0.0000"
    # the other side was short 4 @ 6.2590 and bought back at 6.3000 as maker
    buy_back = fills(other)[0]
    assert (buy_back["entry_price"], buy_back["realized_pnl"], buy_back["fees"]) == (
        "6.2590",
        "-0.1640",
        "0.0126",
    )


def test_pagination_and_time_bounds(
    fresh: Served, client: httpx.Client, other: httpx.Client
) -> None:
    place(client, client_order_id="bid", count="5")
    for n in range(5):
        place(other, client_order_id=f"a{n}", side="ask", count="1", price="6.2590")
        advance(fresh, 1_000)
    expected = [f["fill_id"] for f in fills(client)]
    assert len(expected) == 5
    seen: list[str] = []
    cursor = ""
    for _ in range(3):
        body = client.get("/margin/fills", params={"limit": 2, "cursor": cursor}).json()
        seen += [f["fill_id"] for f in body["fills"]]
        cursor = body["cursor"]
    assert cursor == ""
    assert seen == expected
    times = [f["created_time"] for f in fills(client)]
    assert times[0] == "2026-06-15T00:00:04.000Z"
    assert times[-1] == START
    assert len(fills(client, min_ts=START_S + 3)) == 2
    assert len(fills(client, max_ts=START_S + 1)) == 2
    assert len(fills(client, min_ts=START_S + 1, max_ts=START_S + 3)) == 3
    assert len(fills(client, subaccount=0)) == 5
    assert fills(client, subaccount=1) == []


def test_no_fills(client: httpx.Client) -> None:
    assert client.get("/margin/fills").json() == {"fills": [], "cursor": ""}


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "%%%"},
        {"cursor": "b3JkZXJzOjA"},  # an orders cursor
        {"limit": 0},
        {"limit": 1001},
        {"max_ts": "soon"},
        {"subaccount": -1},
    ],
)
def test_bad_parameters(client: httpx.Client, params: dict[str, Any]) -> None:
    response = client.get("/margin/fills", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


def test_fills_need_a_signature(public: httpx.Client) -> None:
    assert public.get("/margin/fills").status_code == 401
