"""FCM operations: subtraders, IM caps, admin and member notional limits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from matching import Side, TimeInForce
from simulator.model.orders import PlaceOrder
from tests.api.conftest import demo_sdk_client, make_client
from tests.api.served import Served

BTC = "KXBTCPERP"
SUBTRADER = "demo-user_desk1"
CONTROLS = "/margin/fcm/subtraders/risk_controls"
LIMIT = "/margin/fcm/notional_risk_limit"


def _control(server: Served, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = server.control("POST", path, json=body)
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def _place(server: Served, user_id: str, side: Side, price: int, **kw: Any) -> str:
    order = PlaceOrder(BTC, side, price, 100, str(uuid.uuid4()), **kw)
    return server.runtime.exchange.place_order(user_id, order).order.order_id


@pytest.fixture
def desk(client: httpx.Client) -> str:
    response = client.post(
        "/margin/fcm/subtraders", json={"subtrader_suffix": "desk1", "require_category_cap": False}
    )
    assert (response.status_code, response.json()) == (201, {"subtrader_id": SUBTRADER})
    return SUBTRADER


@pytest.fixture
def other_fcm(fresh: Served) -> Iterator[httpx.Client]:
    with make_client(fresh, fresh.new_user("100.0000").auth) as other:
        yield other


def _controls(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get(CONTROLS, params={"subtrader_id": SUBTRADER, **params})
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


# ------------------------------------------------------------------ subtraders


def test_create_subtrader_opens_an_account(fresh: Served, desk: str) -> None:
    user = fresh.runtime.exchange.user(desk)

    assert list(user.subaccounts) == [0]
    assert user.api_keys == []
    assert fresh.runtime.exchange.fcm.subtrader("demo-user", desk).require_category_cap is False


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"subtrader_suffix": "desk1", "require_category_cap": True},
            409,
            "subtrader_already_exists",
        ),
        (
            {"subtrader_suffix": "bad-suffix", "require_category_cap": True},
            400,
            "invalid_parameters",
        ),
        ({"subtrader_suffix": "a" * 17, "require_category_cap": True}, 400, "invalid_parameters"),
        ({"subtrader_suffix": "", "require_category_cap": True}, 400, "invalid_parameters"),
        ({"subtrader_suffix": "desk2"}, 400, "invalid_parameters"),
        ({"subtrader_suffix": "desk2", "require_category_cap": "yes"}, 400, "invalid_parameters"),
        (
            {"subtrader_suffix": "desk2", "require_category_cap": True, "x": 1},
            400,
            "invalid_parameters",
        ),
    ],
)
def test_create_subtrader_refusals(
    fresh: Served,
    client: httpx.Client,
    desk: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    users = sorted(fresh.runtime.exchange.users)

    response = client.post("/margin/fcm/subtraders", json=body)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert sorted(fresh.runtime.exchange.users) == users


def test_mixed_case_suffix(client: httpx.Client) -> None:
    response = client.post(
        "/margin/fcm/subtraders", json={"subtrader_suffix": "Desk9", "require_category_cap": True}
    )
    assert response.json() == {"subtrader_id": "demo-user_Desk9"}


# --------------------------------------------------------------- risk controls


def test_risk_controls_start_empty(client: httpx.Client, desk: str) -> None:
    assert _controls(client) == {"risk_controls": [], "notional_limits": []}


def test_im_caps_round_trip(fresh: Served, client: httpx.Client, desk: str) -> None:
    puts = [
        {"subtrader_id": desk, "im_cap": "25.1234", "market_ticker": BTC},
        {"subtrader_id": desk, "im_cap": "50.5", "asset_class": "Crypto"},
        {"subtrader_id": desk, "im_cap": "100"},
        {"subtrader_id": desk, "im_cap": "40", "asset_class": "Metals"},
    ]
    for put in puts:
        response = client.put(CONTROLS, json=put)
        assert (response.status_code, response.json()) == (200, {})
    # the subtrader buys 1 BTC at 6.3587: IM ceil(1.3 x ceil(6.3587 x 0.1270766)) = 1.0506
    _control(fresh, f"/markets/{BTC}/reference_price", {"price": "6.3587"})
    _control(fresh, f"/users/{desk}/deposit", {"amount": "10.0000"})
    seller = fresh.new_user("100.0000").user_id
    _place(fresh, seller, Side.ASK, 63587)
    _place(fresh, desk, Side.BID, 63587, time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL)

    body = _controls(client)

    assert body["risk_controls"] == [
        {"subtrader_id": desk, "im_cap": "100.0000", "current_im": "1.0506"},
        {
            "subtrader_id": desk,
            "asset_class": "Crypto",
            "im_cap": "50.5000",
            "current_im": "1.0506",
        },
        {
            "subtrader_id": desk,
            "asset_class": "Metals",
            "im_cap": "40.0000",
            "current_im": "0.0000",
        },
        {"subtrader_id": desk, "market_ticker": BTC, "im_cap": "25.1234", "current_im": "1.0506"},
    ]
    assert _controls(client, asset_class="Crypto")["risk_controls"] == [body["risk_controls"][1]]
    assert _controls(client, market_ticker=BTC)["risk_controls"] == [body["risk_controls"][3]]
    assert _controls(client, market_ticker="KXETHPERP")["risk_controls"] == []

    replaced = client.put(CONTROLS, json={"subtrader_id": desk, "im_cap": "7.5"})
    deleted = client.delete(CONTROLS, params={"subtrader_id": desk, "asset_class": "Metals"})

    assert replaced.json() == {} and deleted.json() == {}
    caps = _controls(client)["risk_controls"]
    assert [(c.get("asset_class"), c.get("market_ticker"), c["im_cap"]) for c in caps] == [
        (None, None, "7.5000"),
        ("Crypto", None, "50.5000"),
        (None, BTC, "25.1234"),
    ]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"subtrader_id": "demo-user_nobody", "im_cap": "1"}, 404, "not_found"),
        ({"subtrader_id": SUBTRADER, "im_cap": "1.23456"}, 400, "invalid_parameters"),
        ({"subtrader_id": SUBTRADER, "im_cap": "-1"}, 400, "invalid_parameters"),
        ({"subtrader_id": SUBTRADER, "im_cap": "1e3"}, 400, "invalid_parameters"),
        ({"subtrader_id": SUBTRADER, "im_cap": "1" * 21}, 400, "invalid_parameters"),
        ({"subtrader_id": SUBTRADER, "im_cap": 5}, 400, "invalid_parameters"),
        ({"subtrader_id": SUBTRADER}, 400, "invalid_parameters"),
        (
            {"subtrader_id": SUBTRADER, "im_cap": "1", "asset_class": "Bogus"},
            400,
            "invalid_parameters",
        ),
        (
            {
                "subtrader_id": SUBTRADER,
                "im_cap": "1",
                "asset_class": "Crypto",
                "market_ticker": BTC,
            },
            400,
            "invalid_parameters",
        ),
        (
            {"subtrader_id": SUBTRADER, "im_cap": "1", "market_ticker": "NOPE"},
            404,
            "market_not_found",
        ),
    ],
)
def test_update_risk_controls_refusals(
    client: httpx.Client, desk: str, body: dict[str, Any], status: int, code: str
) -> None:
    client.put(CONTROLS, json={"subtrader_id": desk, "im_cap": "3"})
    before = _controls(client)

    response = client.put(CONTROLS, json=body)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert _controls(client) == before


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"subtrader_id": SUBTRADER, "asset_class": "Crypto"}, 404, "not_found"),
        ({"subtrader_id": "demo-user_nobody"}, 404, "not_found"),
        ({}, 400, "invalid_parameters"),
        ({"subtrader_id": SUBTRADER, "asset_class": "Bogus"}, 400, "invalid_parameters"),
        (
            {"subtrader_id": SUBTRADER, "asset_class": "Crypto", "market_ticker": BTC},
            400,
            "invalid_parameters",
        ),
    ],
)
def test_delete_risk_controls_refusals(
    client: httpx.Client, desk: str, params: dict[str, Any], status: int, code: str
) -> None:
    client.put(CONTROLS, json={"subtrader_id": desk, "im_cap": "3"})

    response = client.delete(CONTROLS, params=params)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert len(_controls(client)["risk_controls"]) == 1


def test_get_risk_controls_refusals(client: httpx.Client, desk: str) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({}, 400, "invalid_parameters"),
        ({"subtrader_id": "demo-user_nobody"}, 404, "not_found"),
        (
            {"subtrader_id": desk, "asset_class": "Crypto", "market_ticker": BTC},
            400,
            "invalid_parameters",
        ),
        ({"subtrader_id": desk, "asset_class": "Bogus"}, 400, "invalid_parameters"),
    ]
    for params, status, code in cases:
        response = client.get(CONTROLS, params=params)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), params


def test_another_fcm_cannot_see_the_subtrader(other_fcm: httpx.Client, desk: str) -> None:
    read = other_fcm.get(CONTROLS, params={"subtrader_id": desk})
    write = other_fcm.put(CONTROLS, json={"subtrader_id": desk, "im_cap": "1"})

    assert read.status_code == 404
    assert write.status_code == 404


def test_admin_notional_limits_are_listed(fresh: Served, client: httpx.Client, desk: str) -> None:
    fcm = fresh.runtime.exchange.fcm
    fcm.set_admin_notional_limit(desk, 1_000_000_000)  # $1,000
    fcm.set_admin_notional_limit(desk, 250_000_000, market_ticker=BTC)
    _control(fresh, f"/users/{desk}/deposit", {"amount": "50.0000"})
    _place(fresh, desk, Side.BID, 60000)  # usage 1 x 6.0000

    assert _controls(client)["notional_limits"] == [
        {
            "subtrader_id": desk,
            "notional_value_risk_limit": "1000.0000",
            "current_notional": "6.0000",
        },
        {
            "subtrader_id": desk,
            "market_ticker": BTC,
            "notional_value_risk_limit": "250.0000",
            "current_notional": "6.0000",
        },
    ]


# --------------------------------------------------------- member notional limit


def test_member_limit_shows_in_notional_risk_limit(client: httpx.Client) -> None:
    response = client.put(LIMIT, json={"notional_value_risk_limit": "1234.5"})

    assert (response.status_code, response.json()) == (200, {})
    body = client.get("/margin/notional_risk_limit").json()
    assert body["member_notional_value_risk_limit"] == "1234.5000"
    assert body["effective_account_notional_value_risk_limit"] == "1234.5000"

    cleared = client.delete(LIMIT)

    assert (cleared.status_code, cleared.json()) == (200, {})
    body = client.get("/margin/notional_risk_limit").json()
    assert "member_notional_value_risk_limit" not in body
    assert "effective_account_notional_value_risk_limit" not in body


def test_member_limit_applies_to_new_orders(fresh: Served, client: httpx.Client) -> None:
    from simulator.core import errors

    client.put(LIMIT, json={"notional_value_risk_limit": "10"})
    _place(fresh, "demo-user", Side.BID, 60000)  # $6.00 of usage

    with pytest.raises(errors.NotionalRiskLimitError):
        _place(fresh, "demo-user", Side.BID, 50000)  # +$5.00 > $10

    client.delete(LIMIT)
    _place(fresh, "demo-user", Side.BID, 50000)
    assert client.get("/margin/notional_risk_limit").json()["total_current_usage"] == "11.0000"


def test_lowering_the_member_limit_cancels_newest_orders(
    fresh: Served, client: httpx.Client
) -> None:
    first = _place(fresh, "demo-user", Side.BID, 60000)
    second = _place(fresh, "demo-user", Side.BID, 55000)
    third = _place(fresh, "demo-user", Side.BID, 50000)

    client.put(LIMIT, json={"notional_value_risk_limit": "12.0000"})  # usage was 16.5000

    orders = fresh.runtime.exchange.orders
    assert orders[first].remaining == 100 and orders[second].remaining == 100
    assert orders[third].remaining == 0
    assert orders[third].last_update_reason == "MarginCancel"
    assert client.get("/margin/notional_risk_limit").json()["total_current_usage"] == "11.5000"


@pytest.mark.parametrize(
    "body",
    [
        {"notional_value_risk_limit": "10.12345"},
        {"notional_value_risk_limit": "abc"},
        {"notional_value_risk_limit": "-5"},
        {"notional_value_risk_limit": "1" * 21},
        {"notional_value_risk_limit": 10},
        {},
        {"notional_value_risk_limit": "10", "subtrader_id": SUBTRADER},
    ],
)
def test_member_limit_refusals(client: httpx.Client, body: dict[str, Any]) -> None:
    client.put(LIMIT, json={"notional_value_risk_limit": "99"})

    response = client.put(LIMIT, json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"
    limits = client.get("/margin/notional_risk_limit").json()
    assert limits["member_notional_value_risk_limit"] == "99.0000"


def test_fcm_operations_need_a_signature(public: httpx.Client) -> None:
    assert public.post("/margin/fcm/subtraders", json={}).status_code == 401
    assert public.get(CONTROLS, params={"subtrader_id": SUBTRADER}).status_code == 401
    assert public.put(LIMIT, json={"notional_value_risk_limit": "1"}).status_code == 401
    assert public.delete(LIMIT).status_code == 401


# ------------------------------------------------------------------ kalshi-sdk


def test_kalshi_sdk_round_trip(fresh: Served) -> None:
    from decimal import Decimal

    with demo_sdk_client(fresh) as sdk:
        created = sdk.fcm.create_subtrader(subtrader_suffix="sdk1", require_category_cap=True)
        sdk.fcm.update_risk_controls(
            subtrader_id=created.subtrader_id, im_cap=Decimal("12.5"), asset_class="Crypto"
        )
        controls = sdk.fcm.risk_controls(subtrader_id=created.subtrader_id)
        sdk.fcm.delete_risk_controls(subtrader_id=created.subtrader_id, asset_class="Crypto")
        sdk.fcm.update_notional_risk_limit(notional_value_risk_limit=Decimal("2500"))
        limits = sdk.margin.notional_risk_limit()
        sdk.fcm.delete_notional_risk_limit()
        after = sdk.fcm.risk_controls(subtrader_id=created.subtrader_id)

    assert created.subtrader_id == "demo-user_sdk1"
    (cap,) = controls.risk_controls
    assert (cap.asset_class, cap.im_cap, cap.current_im) == ("Crypto", Decimal("12.5"), Decimal(0))
    assert limits.effective_account_notional_value_risk_limit == Decimal("2500")
    assert after.risk_controls == []
