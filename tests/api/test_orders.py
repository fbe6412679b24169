"""Orders: create, get, list, amend, decrease, cancel, cancel-all, FCM list.

Prices in the bare scenario: KXBTCPERP trades in $0.0001 ticks, maker fee 5 bps, taker 12 bps,
fees rounded up to $0.0001 per fill. The manual clock starts at 2026-06-15T00:00:00Z.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api import signing
from tests.api.conftest import make_client
from tests.api.served import Served

START = "2026-06-15T00:00:00.000Z"
START_S = 1_781_481_600


def order_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ticker": "KXBTCPERP",
        "client_order_id": "c1",
        "side": "bid",
        "count": "10",
        "price": "6.2590",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }
    body.update(fields)
    return body


def new_user(server: Served, balance: str = "1000.0000") -> httpx.Client:
    return make_client(server, server.new_user(balance).auth)


def advance(server: Served, ms: int) -> None:
    server.control("POST", "/clock/advance", json={"ms": ms}).raise_for_status()


def unchecked(server: Served) -> httpx.Client:
    """A demo-user client without the spec check, for statuses an operation does not declare."""
    return server.client(signing.KalshiAuth(signing.DEMO_KEY_ID, signing.demo_private_key()))


@pytest.fixture
def other(fresh: Served) -> Iterator[httpx.Client]:
    """A second user with $1,000."""
    with new_user(fresh) as c:
        yield c


def place(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = client.post("/margin/orders", json=order_body(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def get_order(client: httpx.Client, order_id: str) -> dict[str, Any]:
    response = client.get(f"/margin/orders/{order_id}")
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()["order"]
    return order


def list_ids(client: httpx.Client, **params: Any) -> list[str]:
    response = client.get("/margin/orders", params=params)
    assert response.status_code == 200, response.text
    return [order["client_order_id"] for order in response.json()["orders"]]


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


# ------------------------------------------------------------------- create


def test_resting_bid_and_crossing_ask(client: httpx.Client, other: httpx.Client) -> None:
    bid = place(client, client_order_id="bid-1")
    assert bid == {
        "order_id": bid["order_id"],
        "client_order_id": "bid-1",
        "fill_count": "0.00",
        "remaining_count": "10.00",
    }
    ask = place(other, client_order_id="ask-1", side="ask", count="4", price="6.25")
    # 4 @ 6.2590 (the maker's price); taker fee ceil(25.036 x 0.0012) = 0.0301 -> /4 per contract
    assert ask == {
        "order_id": ask["order_id"],
        "client_order_id": "ask-1",
        "fill_count": "4.00",
        "remaining_count": "0.00",
        "average_fill_price": "6.2590",
        "average_fee_paid": "0.007525",
    }
    assert get_order(client, bid["order_id"]) == {
        "order_id": bid["order_id"],
        "user_id": "demo-user",
        "client_order_id": "bid-1",
        "ticker": "KXBTCPERP",
        "side": "bid",
        "last_update_reason": "Trade",
        "price": "6.2590",
        "fill_count": "4.00",
        "remaining_count": "6.00",
        "expiration_time": None,
        "created_time": START,
        "last_update_time": START,
        "self_trade_prevention_type": "taker_at_cross",
        "cancel_order_on_pause": False,
        "order_source": "user",
    }
    taker = get_order(other, ask["order_id"])
    assert taker["side"] == "ask"
    assert taker["price"] == "6.2500"
    assert (taker["fill_count"], taker["remaining_count"]) == ("4.00", "0.00")
    assert taker["last_update_reason"] == "Trade"


def test_market_id_stands_in_for_ticker(client: httpx.Client) -> None:
    body = order_body(market_id="5b1c8f0e-2d7a-4c51-9a0e-0c1f6a3b7d02")
    del body["ticker"]
    response = client.post("/margin/orders", json=body)
    assert response.status_code == 201
    assert get_order(client, response.json()["order_id"])["ticker"] == "KXETHPERP"


def test_ticker_wins_over_market_id(client: httpx.Client) -> None:
    created = place(client, market_id="5b1c8f0e-2d7a-4c51-9a0e-0c1f6a3b7d02")
    assert get_order(client, created["order_id"])["ticker"] == "KXBTCPERP"


def test_optional_fields_are_rendered(client: httpx.Client) -> None:
    created = place(
        client,
        expiration_time=START_S + 3600,
        cancel_order_on_pause=True,
        self_trade_prevention_type="maker",
        subaccount=0,
        market_version=1,
        post_only=True,
    )
    order = get_order(client, created["order_id"])
    assert order["expiration_time"] == "2026-06-15T01:00:00.000Z"
    assert order["cancel_order_on_pause"] is True
    assert order["self_trade_prevention_type"] == "maker"


def test_expiry_cancels_the_order(fresh: Served, client: httpx.Client) -> None:
    created = place(client, expiration_time=START_S + 10)
    advance(fresh, 10_000)
    order = get_order(client, created["order_id"])
    assert (order["remaining_count"], order["last_update_reason"]) == ("0.00", "ExpiryCancel")
    assert list_ids(client, status="canceled") == ["c1"]


def test_ioc_remainder_is_cancelled(client: httpx.Client, other: httpx.Client) -> None:
    place(other, client_order_id="ask", side="ask", count="3", price="6.2600")
    created = place(client, time_in_force="immediate_or_cancel", price="6.2600")
    assert created["fill_count"] == "3.00"
    assert created["remaining_count"] == "0.00"
    # taker fee ceil(18.78 x 0.0012) = 0.0226 -> 0.0226 / 3 = 0.007533.. per contract
    assert created["average_fill_price"] == "6.2600"
    assert created["average_fee_paid"] == "0.007533"
    assert list_ids(client, status="canceled") == ["c1"]
    assert list_ids(other, status="executed") == ["ask"]


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"price": "6.25901"}, 400, "invalid_order"),
        ({"count": "1.001"}, 400, "invalid_order"),
        ({"count": "0"}, 400, "invalid_order"),
        ({"price": "six"}, 400, "invalid_parameters"),
        ({"count": 10}, 400, "invalid_parameters"),
        ({"price": 6.259}, 400, "invalid_parameters"),
        ({"side": "buy"}, 400, "invalid_parameters"),
        ({"time_in_force": "day"}, 400, "invalid_parameters"),
        ({"subaccount": -1}, 400, "invalid_parameters"),
        ({"unknown_field": 1}, 400, "invalid_parameters"),
        ({"ticker": "NOPE"}, 400, "market_not_found"),
        ({"ticker": None, "market_id": "not-a-uuid"}, 400, "invalid_parameters"),
        ({"ticker": None}, 400, "invalid_parameters"),
        ({"subaccount": 7}, 400, "subaccount_not_found"),
        ({"market_version": 2}, 409, "market_version_mismatch"),
        ({"expiration_time": START_S}, 400, "invalid_order"),
        ({"expiration_time": 10**15}, 400, "invalid_parameters"),
        ({"reduce_only": True}, 400, "invalid_order"),
        ({"post_only": True, "time_in_force": "immediate_or_cancel"}, 400, "invalid_order"),
        ({"count": "1000000"}, 400, "NOTIONAL_RISK_LIMIT_EXCEEDED"),
        ({"order_group_id": "5b1c8f0e-2d7a-4c51-9a0e-0c1f6a3b7d09"}, 400, "not_found"),
    ],
)
def test_rejected_create_changes_nothing(
    client: httpx.Client, fields: dict[str, Any], status: int, code: str
) -> None:
    body = {k: v for k, v in order_body(**fields).items() if v is not None}
    response = client.post("/margin/orders", json=body)
    assert (response.status_code, error_code(response)) == (status, code)
    assert list_ids(client) == []


def test_missing_required_field(client: httpx.Client) -> None:
    body = order_body()
    del body["self_trade_prevention_type"]
    response = client.post("/margin/orders", json=body)
    assert (response.status_code, error_code(response)) == (400, "invalid_parameters")


def test_malformed_json_and_content_type(client: httpx.Client) -> None:
    response = client.post(
        "/margin/orders", content=b'{"ticker": ', headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, error_code(response)) == (400, "invalid_parameters")
    response = client.post(
        "/margin/orders", content=b"ticker=KXBTCPERP", headers={"Content-Type": "text/plain"}
    )
    assert (response.status_code, error_code(response)) == (400, "invalid_content_type")
    assert list_ids(client) == []


def test_insufficient_balance(fresh: Served) -> None:
    with new_user(fresh, balance="1.0000") as poor:
        response = poor.post("/margin/orders", json=order_body(count="10"))
        assert (response.status_code, error_code(response)) == (400, "insufficient_balance")
        assert list_ids(poor) == []


def test_duplicate_client_order_id(client: httpx.Client) -> None:
    place(client, client_order_id="dup")
    response = client.post("/margin/orders", json=order_body(client_order_id="dup"))
    assert (response.status_code, error_code(response)) == (409, "order_already_exists")
    assert list_ids(client) == ["dup"]


def test_create_needs_a_signature(public: httpx.Client) -> None:
    assert public.post("/margin/orders", json=order_body()).status_code == 401


# ---------------------------------------------------------------------- get


def test_unknown_and_foreign_orders_are_not_found(
    client: httpx.Client, other: httpx.Client, fresh: Served
) -> None:
    mine = place(client)
    response = other.get(f"/margin/orders/{mine['order_id']}")
    assert (response.status_code, error_code(response)) == (404, "not_found")
    response = client.get("/margin/orders/00000000-0000-4000-8000-000000000000")
    assert (response.status_code, error_code(response)) == (404, "not_found")
    # a malformed id is 400 (the spec declares no 400 here, so no schema check)
    with unchecked(fresh) as raw:
        response = raw.get("/margin/orders/not-an-id")
        assert (response.status_code, error_code(response)) == (400, "invalid_parameters")


# --------------------------------------------------------------------- list


def test_pagination_newest_first(client: httpx.Client) -> None:
    for n in range(5):
        place(client, client_order_id=f"o{n}", price=f"6.20{n}0")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/margin/orders", params=params).json()
        seen += [order["client_order_id"] for order in body["orders"]]
        pages += 1
        cursor = body["cursor"]
        if cursor == "":
            break
    assert seen == ["o4", "o3", "o2", "o1", "o0"]
    assert pages == 3
    # an exact multiple of the page size ends without an empty extra page
    first = client.get("/margin/orders", params={"limit": 5}).json()
    assert (len(first["orders"]), first["cursor"]) == (5, "")


def test_orders_placed_between_pages_do_not_repeat(client: httpx.Client) -> None:
    for n in range(3):
        place(client, client_order_id=f"o{n}", price=f"6.20{n}0")
    first = client.get("/margin/orders", params={"limit": 2}).json()
    place(client, client_order_id="late", price="6.2100")
    second = client.get("/margin/orders", params={"limit": 2, "cursor": first["cursor"]}).json()
    assert [o["client_order_id"] for o in first["orders"] + second["orders"]] == ["o2", "o1", "o0"]
    assert second["cursor"] == ""


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "garbage!"},
        {"cursor": "b3JkZXJzOjk5"},  # a well-formed cursor past the end
        {"cursor": "ZmlsbHM6MA"},  # a fills cursor
        {"limit": 0},
        {"limit": 10_001},
        {"min_ts": "yesterday"},
        {"subaccount": -1},
        {"status": "open"},
    ],
)
def test_bad_list_parameters(client: httpx.Client, params: dict[str, Any]) -> None:
    response = client.get("/margin/orders", params=params)
    assert (response.status_code, error_code(response)) == (400, "invalid_parameters")


def test_list_filters(fresh: Served, client: httpx.Client, other: httpx.Client) -> None:
    place(client, client_order_id="btc")
    advance(fresh, 2_000)
    place(client, client_order_id="eth", ticker="KXETHPERP", price="3.4120")
    place(other, client_order_id="hit", side="ask", count="10", price="3.4120", ticker="KXETHPERP")
    advance(fresh, 2_000)
    gone = place(client, client_order_id="gone", price="6.2000")
    client.delete(f"/margin/orders/{gone['order_id']}")
    assert list_ids(client) == ["gone", "eth", "btc"]
    assert list_ids(client, ticker="KXETHPERP") == ["eth"]
    assert list_ids(client, status="resting") == ["btc"]
    assert list_ids(client, status="executed") == ["eth"]
    assert list_ids(client, status="canceled") == ["gone"]
    assert list_ids(client, min_ts=START_S + 2) == ["gone", "eth"]
    assert list_ids(client, max_ts=START_S + 2) == ["eth", "btc"]
    assert list_ids(client, min_ts=START_S + 1, max_ts=START_S + 3) == ["eth"]
    assert list_ids(client, subaccount=0) == ["gone", "eth", "btc"]
    assert list_ids(client, subaccount=1) == []
    assert list_ids(other) == ["hit"]


def test_fcm_orders_list_own_and_subtrader_orders(client: httpx.Client) -> None:
    place(client)
    body = client.get("/margin/fcm/orders", params={"subtrader_id": "demo-user"}).json()
    assert [o["client_order_id"] for o in body["orders"]] == ["c1"]
    assert body["cursor"] == ""
    created = client.post(
        "/margin/fcm/subtraders",
        json={"subtrader_suffix": "desk1", "require_category_cap": False},
    )
    assert created.status_code == 201
    body = client.get("/margin/fcm/orders", params={"subtrader_id": "demo-user_desk1"}).json()
    assert body == {"orders": [], "cursor": ""}
    for stranger in ("someone-else", "demo-user_desk2"):
        response = client.get("/margin/fcm/orders", params={"subtrader_id": stranger})
        assert (response.status_code, error_code(response)) == (400, "not_found")
    response = client.get("/margin/fcm/orders")
    assert (response.status_code, error_code(response)) == (400, "invalid_parameters")


# ---------------------------------------------------------- amend / decrease


def test_amend_price_and_size(fresh: Served, client: httpx.Client) -> None:
    created = place(client, price="6.2000")
    advance(fresh, 1_500)
    response = client.post(
        f"/margin/orders/{created['order_id']}/amend",
        json={
            "ticker": "KXBTCPERP",
            "side": "bid",
            "price": "6.21",
            "count": "12",
            "updated_client_order_id": "c1-new",
        },
    )
    assert response.status_code == 200
    assert response.json() == {
        "order_id": created["order_id"],
        "client_order_id": "c1-new",
        "remaining_count": "12.00",
        "fill_count": None,
        "average_fill_price": None,
        "average_fee_paid": None,
    }
    order = get_order(client, created["order_id"])
    assert (order["price"], order["remaining_count"]) == ("6.2100", "12.00")
    assert order["last_update_reason"] == "Amend"
    assert order["last_update_time"] == "2026-06-15T00:00:01.500Z"
    assert order["client_order_id"] == "c1-new"


def test_amend_that_crosses_fills(client: httpx.Client, other: httpx.Client) -> None:
    place(other, client_order_id="ask", side="ask", count="2", price="6.2500")
    created = place(client, price="6.2000")
    response = client.post(
        f"/margin/orders/{created['order_id']}/amend",
        json={"ticker": "KXBTCPERP", "side": "bid", "price": "6.2500", "count": "10"},
    )
    # taker fee ceil(12.5 x 0.0012) = 0.0150 -> 0.0075 per contract
    assert response.json() == {
        "order_id": created["order_id"],
        "client_order_id": "c1",
        "remaining_count": "8.00",
        "fill_count": "2.00",
        "average_fill_price": "6.2500",
        "average_fee_paid": "0.0075",
    }


def test_amend_errors(client: httpx.Client) -> None:
    created = place(client)
    url = f"/margin/orders/{created['order_id']}/amend"
    amend = {"ticker": "KXBTCPERP", "side": "bid", "price": "6.2590", "count": "10"}
    response = client.post(url, json={**amend, "side": "ask"})
    assert (response.status_code, error_code(response)) == (400, "invalid_order")
    response = client.post(url, json={**amend, "price": "6.25901"})
    assert (response.status_code, error_code(response)) == (400, "invalid_order")
    response = client.post(url, json={"ticker": "KXBTCPERP"})
    assert (response.status_code, error_code(response)) == (400, "invalid_parameters")
    response = client.post(url, json=amend, params={"subaccount": 1})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    response = client.post("/margin/orders/00000000-0000-4000-8000-000000000000/amend", json=amend)
    assert (response.status_code, error_code(response)) == (404, "not_found")
    order = get_order(client, created["order_id"])
    assert (order["price"], order["remaining_count"], order["last_update_reason"]) == (
        "6.2590",
        "10.00",
        "",
    )


def test_decrease(client: httpx.Client) -> None:
    created = place(client)
    url = f"/margin/orders/{created['order_id']}/decrease"
    response = client.post(url, json={"reduce_by": "3"})
    assert response.json() == {
        "order_id": created["order_id"],
        "client_order_id": "c1",
        "remaining_count": "7.00",
    }
    assert client.post(url, json={"reduce_to": "2.00"}).json()["remaining_count"] == "2.00"
    order = get_order(client, created["order_id"])
    assert (order["remaining_count"], order["last_update_reason"]) == ("2.00", "Decrease")
    for bad in ({}, {"reduce_by": "1", "reduce_to": "1"}, {"reduce_by": "0"}, {"reduce_by": "0.5"}):
        response = client.post(url, json=bad)
        assert (response.status_code, error_code(response)) == (400, "invalid_order")
    response = client.post(url, json={"reduce_by": 1})
    assert (response.status_code, error_code(response)) == (400, "invalid_parameters")
    assert get_order(client, created["order_id"])["remaining_count"] == "2.00"
    assert client.post(url, json={"reduce_to": "0"}).json()["remaining_count"] == "0.00"
    response = client.post(url, json={"reduce_by": "1"})
    assert (response.status_code, error_code(response)) == (404, "not_found")


# ------------------------------------------------------------------- cancel


def test_cancel(client: httpx.Client) -> None:
    created = place(client)
    url = f"/margin/orders/{created['order_id']}"
    response = client.delete(url, params={"subaccount": 1})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    response = client.delete(url)
    assert response.status_code == 200
    assert response.json() == {
        "order_id": created["order_id"],
        "client_order_id": "c1",
        "reduced_by": "10.00",
    }
    order = get_order(client, created["order_id"])
    assert (order["remaining_count"], order["last_update_reason"]) == ("0.00", "Decrease")
    response = client.delete(url)
    assert (response.status_code, error_code(response)) == (404, "not_found")
    # the client order id is free again once the order is done
    place(client)


def test_cancel_all(client: httpx.Client, other: httpx.Client) -> None:
    for n in range(3):
        place(client, client_order_id=f"o{n}", price=f"6.20{n}0")
    place(other, client_order_id="theirs", price="6.1000")
    response = client.delete("/margin/orders", params={"subaccount": 1})
    assert (response.status_code, response.content) == (204, b"")
    assert list_ids(client, status="resting") == ["o2", "o1", "o0"]
    response = client.delete("/margin/orders")
    assert (response.status_code, response.content) == (204, b"")
    assert list_ids(client, status="resting") == []
    assert list_ids(client, status="canceled") == ["o2", "o1", "o0"]
    assert list_ids(other, status="resting") == ["theirs"]
