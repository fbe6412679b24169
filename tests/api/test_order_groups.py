"""Order groups: create/list/get, the rolling fill limit, trigger, reset,
limit updates and delete.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.served import Served
from tests.api.test_orders import get_order, new_user, place, unchecked

UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def other(fresh: Served) -> Iterator[httpx.Client]:
    with new_user(fresh) as c:
        yield c


def create_group(client: httpx.Client, **body: Any) -> str:
    response = client.post("/margin/order_groups/create", json=body or {"contracts_limit": 5})
    assert response.status_code == 201, response.text
    group_id: str = response.json()["order_group_id"]
    return group_id


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_create_list_get(client: httpx.Client) -> None:
    response = client.post("/margin/order_groups/create", json={"contracts_limit": 5})
    assert response.status_code == 201
    body = response.json()
    assert body == {"order_group_id": body["order_group_id"], "subaccount": 0, "exchange_index": 0}
    second = create_group(client, contracts_limit_fp="7.00", subaccount=0)
    listed = client.get("/margin/order_groups").json()
    assert listed == {
        "order_groups": [
            {
                "id": body["order_group_id"],
                "contracts_limit_fp": "5.00",
                "is_auto_cancel_enabled": True,
                "exchange_index": 0,
            },
            {
                "id": second,
                "contracts_limit_fp": "7.00",
                "is_auto_cancel_enabled": True,
                "exchange_index": 0,
            },
        ]
    }
    assert client.get("/margin/order_groups", params={"subaccount": 1}).json() == {
        "order_groups": []
    }
    order = place(client, order_group_id=second)
    assert client.get(f"/margin/order_groups/{second}").json() == {
        "is_auto_cancel_enabled": True,
        "contracts_limit_fp": "7.00",
        "orders": [order["order_id"]],
        "exchange_index": 0,
    }
    assert get_order(client, order["order_id"])["order_group_id"] == second


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "invalid_parameters"),
        ({"contracts_limit": 0}, "invalid_parameters"),
        ({"contracts_limit_fp": "2.50"}, "invalid_parameters"),
        ({"contracts_limit": 5, "contracts_limit_fp": "6.00"}, "invalid_parameters"),
        ({"contracts_limit": "5"}, "invalid_parameters"),
        ({"contracts_limit": 5, "subaccount": 9}, "subaccount_not_found"),
        ({"contracts_limit": 5, "color": "red"}, "invalid_parameters"),
    ],
)
def test_create_rejections(client: httpx.Client, body: dict[str, Any], expected: str) -> None:
    response = client.post("/margin/order_groups/create", json=body)
    assert code(response) == (400, expected)
    assert client.get("/margin/order_groups").json() == {"order_groups": []}


def test_fills_over_the_limit_trigger_the_group(client: httpx.Client, other: httpx.Client) -> None:
    group = create_group(client)
    bid = place(client, order_group_id=group)
    place(other, client_order_id="a", side="ask", count="5", price="6.2590")
    # exactly the limit does not trigger
    assert client.get(f"/margin/order_groups/{group}").json()["is_auto_cancel_enabled"] is True
    place(other, client_order_id="b", side="ask", count="1", price="6.2590")
    detail = client.get(f"/margin/order_groups/{group}").json()
    assert (detail["is_auto_cancel_enabled"], detail["orders"]) == (False, [])
    order = get_order(client, bid["order_id"])
    assert (order["fill_count"], order["remaining_count"]) == ("6.00", "0.00")
    # 10 ordered, 6 filled, the other 4 cancelled by the trigger (no reason value for it)
    assert order["last_update_reason"] == ""
    response = client.post(
        "/margin/orders", json={**_order(), "client_order_id": "next", "order_group_id": group}
    )
    assert code(response) == (400, "exceeded_order_group_risk_limit")
    # reset with the SDK's `{}` body, then orders are accepted again
    response = client.put(f"/margin/order_groups/{group}/reset", json={})
    assert (response.status_code, response.json()) == (200, {})
    place(client, client_order_id="next", order_group_id=group)


def _order() -> dict[str, Any]:
    return {
        "ticker": "KXBTCPERP",
        "side": "bid",
        "count": "10",
        "price": "6.2000",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }


def test_trigger_cancels_members_and_reset_accepts_no_body(
    fresh: Served, client: httpx.Client
) -> None:
    group = create_group(client)
    first = place(client, order_group_id=group)
    response = client.put(f"/margin/order_groups/{group}/trigger", json={})
    assert (response.status_code, response.json()) == (200, {})
    order = get_order(client, first["order_id"])
    assert order["remaining_count"] == "0.00"
    assert client.get(f"/margin/order_groups/{group}").json()["is_auto_cancel_enabled"] is False
    response = client.put(f"/margin/order_groups/{group}/reset")
    assert (response.status_code, response.json()) == (200, {})
    assert client.get(f"/margin/order_groups/{group}").json()["is_auto_cancel_enabled"] is True
    # a body that is not a JSON object is refused (400 is not declared here: unchecked client)
    with unchecked(fresh) as raw:
        url = f"/margin/order_groups/{group}/trigger"
        response = raw.put(url, content=b"[]", headers={"Content-Type": "application/json"})
        assert code(response) == (400, "invalid_parameters")
        response = raw.put(url, content=b"{}", headers={"Content-Type": "text/plain"})
        assert code(response) == (400, "invalid_content_type")
        assert code(raw.get("/margin/order_groups/not-a-group")) == (400, "invalid_parameters")
    assert client.get(f"/margin/order_groups/{group}").json()["is_auto_cancel_enabled"] is True


def test_update_limit(client: httpx.Client, other: httpx.Client) -> None:
    group = create_group(client, contracts_limit=10)
    bid = place(client, order_group_id=group)
    place(other, client_order_id="a", side="ask", count="3", price="6.2590")
    url = f"/margin/order_groups/{group}/limit"
    response = client.put(url, json={"contracts_limit_fp": "4.00"})
    assert (response.status_code, response.json()) == (200, {})
    assert client.get(f"/margin/order_groups/{group}").json()["contracts_limit_fp"] == "4.00"
    for bad in ({}, {"contracts_limit": 0}, {"contracts_limit": 2_000_000}, {"limit": 3}):
        assert code(client.put(url, json=bad)) == (400, "invalid_parameters")
    # a limit below what already filled in the window trips the group at once
    assert client.put(url, json={"contracts_limit": 2}).status_code == 200
    detail = client.get(f"/margin/order_groups/{group}").json()
    assert (detail["is_auto_cancel_enabled"], detail["contracts_limit_fp"]) == (False, "2.00")
    assert get_order(client, bid["order_id"])["remaining_count"] == "0.00"


def test_delete_cancels_members(client: httpx.Client) -> None:
    group = create_group(client)
    first = place(client, order_group_id=group)
    response = client.delete(f"/margin/order_groups/{group}", params={"subaccount": 1})
    assert code(response) == (404, "not_found")
    response = client.delete(f"/margin/order_groups/{group}")
    assert (response.status_code, response.json()) == (200, {})
    assert get_order(client, first["order_id"])["remaining_count"] == "0.00"
    assert code(client.get(f"/margin/order_groups/{group}")) == (404, "not_found")
    assert client.get("/margin/order_groups").json() == {"order_groups": []}


def test_unknown_and_foreign_groups(client: httpx.Client, other: httpx.Client) -> None:
    group = create_group(client)
    assert code(other.get(f"/margin/order_groups/{group}")) == (404, "not_found")
    assert code(other.delete(f"/margin/order_groups/{group}")) == (404, "not_found")
    for verb in ("reset", "trigger"):
        assert code(other.put(f"/margin/order_groups/{group}/{verb}", json={})) == (
            404,
            "not_found",
        )
    response = other.put(f"/margin/order_groups/{group}/limit", json={"contracts_limit": 3})
    assert code(response) == (404, "not_found")
    assert code(client.get(f"/margin/order_groups/{UNKNOWN}")) == (404, "not_found")
    assert client.get(f"/margin/order_groups/{group}").json()["contracts_limit_fp"] == "5.00"
    response = client.put("/margin/order_groups/nope/limit", json={"contracts_limit": 3})
    assert code(response) == (400, "invalid_parameters")
