"""Exit triggers: set, list, update, delete, errors, and a trigger firing.

Setup: demo-user moves $2.00 to subaccount 1 and buys 1 KXBTCPERP there at $6.3587 (taker fee
$0.0077, cash 1.9923) with the mark at $6.3587. The estimated liquidation price is
(6.3587 - 1.9923) / (1 - 0.1270766) = 5.00204.. -> $5.0020 (MECHANICS 6.4), so a stop loss at or
below 5.0020 is refused.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from matching import Side, TimeInForce
from simulator.model.orders import PlaceOrder
from tests.api.conftest import demo_sdk_client
from tests.api.served import Served

BTC = "KXBTCPERP"
CROSS = f"/margin/cross/positions/{BTC}/exit_trigger"
ISOLATED = f"/margin/isolated/positions/{BTC}/exit_trigger"
SUB1 = {"subaccount": 1}
T0 = "2026-06-15T00:00:00.000Z"


def _control(server: Served, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = server.control("POST", path, json=body)
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def _place(server: Served, user_id: str, side: Side, price: int, **kw: Any) -> None:
    order = PlaceOrder(BTC, side, price, 100, str(uuid.uuid4()), **kw)
    server.runtime.exchange.place_order(user_id, order)


@pytest.fixture
def seller(fresh: Served) -> str:
    return fresh.new_user("10000.0000").user_id


@pytest.fixture
def long_in_sub1(fresh: Served, client: httpx.Client, seller: str) -> None:
    _control(fresh, f"/markets/{BTC}/reference_price", {"price": "6.3587"})
    assert client.post("/portfolio/margin/subaccounts", json={}).status_code == 201
    transfer = {
        "client_transfer_id": str(uuid.uuid4()),
        "from_subaccount": 0,
        "to_subaccount": 1,
        "amount_cents": 200,
    }
    assert client.post("/portfolio/margin/subaccounts/transfer", json=transfer).status_code == 200
    _place(fresh, seller, Side.ASK, 63587)
    _place(
        fresh,
        "demo-user",
        Side.BID,
        63587,
        time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
        subaccount=1,
    )


def _listed(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get(CROSS, params={"subaccount": 1, **params})
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()["exit_triggers"]
    return found


# ------------------------------------------------------------------ round trip


def test_bracket_round_trip(client: httpx.Client, long_in_sub1: None) -> None:
    created = client.put(
        CROSS, params=SUB1, json={"stop_loss_price": "6.0000", "take_profit_price": "7.00"}
    )

    assert created.status_code == 200
    trigger = created.json()
    trigger_id = trigger["id"]
    assert uuid.UUID(trigger_id)
    assert trigger == {
        "id": trigger_id,
        "ticker": BTC,
        "kind": "bracket",
        "status": "active",
        "stop_loss_price": "6.0000",
        "take_profit_price": "7.0000",
        "count": "0.00",
        "filled_count": "0.00",
        "created_time": T0,
        "updated_time": T0,
    }
    assert _listed(client) == [trigger]
    assert _listed(client, kind="bracket") == [trigger]
    assert _listed(client, kind="trailing") == []
    assert client.get(CROSS).json() == {"exit_triggers": []}  # subaccount 0 holds nothing

    updated = client.put(f"{CROSS}/{trigger_id}", params=SUB1, json={"stop_loss_price": "5.5"})

    assert updated.status_code == 200
    expected = {k: v for k, v in trigger.items() if k != "take_profit_price"}
    assert updated.json() == expected | {"stop_loss_price": "5.5000"}  # omitted leg cleared
    assert _listed(client) == [updated.json()]

    deleted = client.delete(f"{CROSS}/{trigger_id}", params=SUB1)

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert _listed(client) == []
    again = client.delete(f"{CROSS}/{trigger_id}", params=SUB1)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"


def test_replacing_set_cancels_the_previous_bracket(
    client: httpx.Client, long_in_sub1: None
) -> None:
    first = client.put(CROSS, params=SUB1, json={"stop_loss_price": "6.0000"}).json()
    second = client.put(CROSS, params=SUB1, json={"take_profit_price": "6.9000"}).json()

    assert second["id"] != first["id"]
    assert _listed(client) == [second]


def test_trailing_stop_tracks_the_mark(client: httpx.Client, long_in_sub1: None) -> None:
    created = client.put(
        CROSS, params=SUB1, json={"kind": "trailing", "trail_amount": "0.0500"}
    ).json()

    assert created["kind"] == "trailing"
    assert created["trail_amount"] == "0.0500"
    # the answer already carries the watermark: the mark when it was set
    assert created["watermark_price"] == "6.3587"
    assert created["effective_stop_price"] == "6.3087"
    (listed,) = _listed(client, kind="trailing")
    assert listed["watermark_price"] == "6.3587"
    assert listed["effective_stop_price"] == "6.3087"  # 6.3587 - 0.0500


def test_trailing_stop_in_basis_points(client: httpx.Client, long_in_sub1: None) -> None:
    client.put(CROSS, params=SUB1, json={"kind": "trailing", "trail_bps": 100})

    (listed,) = _listed(client)
    assert listed["trail_bps"] == 100
    assert "trail_amount" not in listed
    assert listed["effective_stop_price"] == "6.2952"  # 6.3587 - floor(63587 x 1%) ticks


def test_fixed_count_brackets_append(client: httpx.Client, long_in_sub1: None) -> None:
    body = {"stop_loss_price": "6.0000", "count": "1", "client_trigger_id": "tp-1"}
    created = client.put(CROSS, params=SUB1, json=body).json()

    assert created["count"] == "1.00"
    assert created["client_trigger_id"] == "tp-1"
    reused = client.put(CROSS, params=SUB1, json=body)
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_already_used"


def test_delete_all_is_idempotent(client: httpx.Client, long_in_sub1: None) -> None:
    client.put(CROSS, params=SUB1, json={"stop_loss_price": "6.0000"})
    client.put(CROSS, params=SUB1, json={"kind": "trailing", "trail_amount": "0.1"})

    only_trailing = client.delete(CROSS, params={"subaccount": 1, "kind": "trailing"})
    assert only_trailing.status_code == 204
    assert [t["kind"] for t in _listed(client)] == ["bracket"]
    assert client.delete(CROSS, params=SUB1).status_code == 204
    assert client.delete(CROSS, params=SUB1).status_code == 204
    assert _listed(client) == []


def test_take_profit_fires_and_closes_the_position(
    fresh: Served, client: httpx.Client, seller: str, long_in_sub1: None
) -> None:
    client.put(CROSS, params=SUB1, json={"take_profit_price": "6.5000"})
    _place(fresh, seller, Side.BID, 65000)  # liquidity for the closing order

    _control(fresh, f"/markets/{BTC}/reference_price", {"price": "6.6000"})

    assert _listed(client) == []
    assert client.get("/margin/positions", params=SUB1).json() == {"positions": []}
    record = next(r for r in fresh.runtime.exchange.orders.values() if r.order_reason is not None)
    assert record.order_reason == "take_profit_stop_loss"
    assert record.fill_count == 100


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"stop_loss_price": "5.0020"}, 400, "stop_loss_past_liquidation"),
        ({"stop_loss_price": "4.0000"}, 400, "stop_loss_past_liquidation"),
        ({}, 400, "invalid_parameters"),
        ({"stop_loss_price": "6.12345"}, 400, "invalid_parameters"),
        ({"stop_loss_price": "0"}, 400, "invalid_parameters"),
        ({"stop_loss_price": "-6"}, 400, "invalid_parameters"),
        ({"stop_loss_price": 6}, 400, "invalid_parameters"),
        ({"stop_loss_price": "6", "trail_amount": "0.1"}, 400, "invalid_parameters"),
        ({"kind": "trailing"}, 400, "invalid_parameters"),
        ({"kind": "trailing", "trail_bps": 10_000}, 400, "invalid_parameters"),
        ({"kind": "ladder", "stop_loss_price": "6"}, 400, "invalid_parameters"),
        ({"stop_loss_price": "6", "count": "1"}, 400, "invalid_parameters"),
        ({"stop_loss_price": "6", "count": "1.5", "client_trigger_id": "a"}, 400, "invalid_order"),
        ({"stop_loss_price": "6", "count": "2", "client_trigger_id": "a"}, 400, "invalid_order"),
        ({"stop_loss_price": "6", "client_trigger_id": "a"}, 400, "invalid_parameters"),
        ({"stop_loss_price": "6", "unknown": 1}, 400, "invalid_parameters"),
        (
            {
                "stop_loss_price": "6",
                "anchor_order_id": str(uuid.uuid4()),
                "client_trigger_id": "b",
            },
            409,
            "anchor_order_unavailable",
        ),
    ],
)
def test_set_cross_refusals_change_nothing(
    client: httpx.Client, long_in_sub1: None, body: dict[str, Any], status: int, code: str
) -> None:
    kept = client.put(CROSS, params=SUB1, json={"take_profit_price": "7.0000"}).json()

    response = client.put(CROSS, params=SUB1, json=body)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert _listed(client) == [kept]


def test_stop_just_above_liquidation_is_accepted(client: httpx.Client, long_in_sub1: None) -> None:
    response = client.put(CROSS, params=SUB1, json={"stop_loss_price": "5.0021"})
    assert response.status_code == 200


def test_set_cross_without_a_position(client: httpx.Client) -> None:
    response = client.put(CROSS, json={"stop_loss_price": "6.0000"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_order"


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "code"),
    [
        ("PUT", "/margin/cross/positions/NOPE/exit_trigger", {}, 404, "market_not_found"),
        ("GET", "/margin/cross/positions/NOPE/exit_trigger", {}, 400, "market_not_found"),
        ("DELETE", "/margin/cross/positions/NOPE/exit_trigger", {}, 400, "market_not_found"),
        ("GET", "/margin/isolated/positions/NOPE/exit_trigger", {}, 400, "market_not_found"),
        ("PUT", CROSS, {"subaccount": 5}, 404, "subaccount_not_found"),
        ("PUT", CROSS, {"subaccount": 64}, 400, "invalid_parameters"),
        ("GET", CROSS, {"subaccount": -1}, 400, "invalid_parameters"),
        ("GET", CROSS, {"kind": "ladder"}, 400, "invalid_parameters"),
        ("DELETE", CROSS, {"subaccount": "x"}, 400, "invalid_parameters"),
        ("GET", ISOLATED, {"kind": "ladder"}, 400, "invalid_parameters"),
    ],
)
def test_bad_addresses(
    client: httpx.Client,
    method: str,
    path: str,
    params: dict[str, Any],
    status: int,
    code: str,
) -> None:
    body = {"stop_loss_price": "6.0000"} if method == "PUT" else None
    response = client.request(method, path, params=params, json=body)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_update_errors(client: httpx.Client, long_in_sub1: None) -> None:
    trailing = client.put(
        CROSS, params=SUB1, json={"kind": "trailing", "trail_amount": "0.1"}
    ).json()
    bracket = client.put(CROSS, params=SUB1, json={"stop_loss_price": "6.0000"}).json()
    before = _listed(client)

    cases = [
        (f"{CROSS}/not-a-uuid", {"stop_loss_price": "6"}, 400, "invalid_parameters"),
        (f"{CROSS}/{uuid.uuid4()}", {"stop_loss_price": "6"}, 404, "not_found"),
        (f"{CROSS}/{trailing['id']}", {"stop_loss_price": "6"}, 400, "invalid_parameters"),
        (f"{CROSS}/{bracket['id']}", {}, 400, "invalid_parameters"),
        (f"{CROSS}/{bracket['id']}", {"stop_loss_price": "5"}, 400, "stop_loss_past_liquidation"),
        (f"{CROSS}/{bracket['id']}", {"count": "1"}, 400, "invalid_parameters"),
    ]
    for path, body, status, code in cases:
        response = client.put(path, params=SUB1, json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), path

    wrong_sub = client.put(f"{CROSS}/{bracket['id']}", json={"stop_loss_price": "6.1"})
    assert wrong_sub.status_code == 404
    assert client.delete(f"{CROSS}/not-a-uuid", params=SUB1).status_code == 400
    assert client.delete(f"{CROSS}/{bracket['id']}").status_code == 404  # subaccount 0
    assert _listed(client) == before


def test_set_needs_a_json_body(client: httpx.Client, long_in_sub1: None) -> None:
    response = client.put(
        CROSS, params=SUB1, content=b"stop=6", headers={"content-type": "text/plain"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_content_type"


def test_exit_triggers_need_a_signature(public: httpx.Client) -> None:
    assert public.get(CROSS).status_code == 401
    assert public.put(CROSS, json={"stop_loss_price": "6"}).status_code == 401
    assert public.delete(ISOLATED).status_code == 401


# -------------------------------------------------------------------- isolated


def test_isolated_triggers(client: httpx.Client, long_in_sub1: None) -> None:
    refused = client.put(ISOLATED, json={"stop_loss_price": "6.0000"})
    malformed = client.put(ISOLATED, json={"stop_loss_price": "6", "count": "1"})

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_order"
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid_parameters"
    assert client.get(ISOLATED).json() == {"exit_triggers": []}
    assert client.get(ISOLATED, params={"kind": "trailing"}).json() == {"exit_triggers": []}
    assert client.delete(ISOLATED).status_code == 204
    assert client.delete(ISOLATED, params={"kind": "bracket"}).status_code == 204


# ------------------------------------------------------------------ kalshi-sdk


def test_kalshi_sdk_round_trip(fresh: Served, long_in_sub1: None) -> None:
    from decimal import Decimal

    from kalshi.perps.models.portfolio import SetCrossExitTriggerRequest, UpdateExitTriggerRequest

    with demo_sdk_client(fresh) as sdk:
        created = sdk.portfolio.set_cross_exit_trigger(
            BTC,
            subaccount=1,
            request=SetCrossExitTriggerRequest(stop_loss_price=Decimal("6.1")),
        )
        updated = sdk.portfolio.update_cross_exit_trigger(
            BTC,
            created.id,
            subaccount=1,
            request=UpdateExitTriggerRequest(take_profit_price=Decimal("7")),
        )
        listed = sdk.portfolio.cross_exit_triggers(BTC, subaccount=1).exit_triggers
        sdk.portfolio.cancel_cross_exit_trigger(BTC, created.id, subaccount=1)
        sdk.portfolio.cancel_cross_exit_triggers(BTC, subaccount=1)
        isolated = sdk.portfolio.isolated_exit_triggers(BTC).exit_triggers
        sdk.portfolio.cancel_isolated_exit_triggers(BTC)
        remaining = sdk.portfolio.cross_exit_triggers(BTC, subaccount=1).exit_triggers

    assert created.stop_loss_price == Decimal("6.1")
    assert updated.take_profit_price == Decimal("7") and updated.stop_loss_price is None
    assert [t.id for t in listed] == [created.id]
    assert isolated == [] and remaining == []
