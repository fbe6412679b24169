"""Error shapes: routing errors, bad bodies and bad query parameters.

Every error is Kalshi's envelope `{"error": {"code", "message", "service"}}` (REST.md (b)) with
a 4xx status, never a 500, and a rejected request changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

import httpx
import pytest

from tests.api import signing
from tests.api.served import Served

MAX_BODY = 1 << 20  # ServerSettings.max_body_bytes

ORDER = {
    "ticker": "KXBTCPERP",
    "client_order_id": "err-1",
    "side": "bid",
    "count": "1.00",
    "price": "1.0000",
    "time_in_force": "good_till_canceled",
    "self_trade_prevention_type": "taker_at_cross",
}


def _error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, str] = body["error"]
    assert error["code"] == code
    assert error["service"] == "exchange"
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "details", "service"}
    return error


@pytest.fixture
def bare(fresh: Served) -> Iterator[httpx.Client]:
    """No credentials and no spec validation (for routes and methods the spec lacks)."""
    with fresh.client(base_url=fresh.base) as c:
        yield c


def _order_ids(client: httpx.Client) -> list[str]:
    response = client.get("/margin/orders")
    assert response.status_code == 200
    return [order["order_id"] for order in response.json()["orders"]]


def _user_count(server: Served) -> int:
    return len(server.runtime.exchange.users)


# ---------------------------------------------------------------- routing


@pytest.mark.parametrize(
    "path",
    [
        "/trade-api/v2/margin/nonexistent",
        "/trade-api/v2/margin/orders/0000000a-0000-4000-8000-000000000000/nope",
        "/trade-api/v3/margin/exchange/status",
        "/nope",
        "/sim/v1/nope",
    ],
)
def test_unknown_route_is_404_not_found(bare: httpx.Client, path: str) -> None:
    _error(bare.get(path), 404, "not_found")
    _error(bare.post(path, json={}), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/trade-api/v2/margin/exchange/status", {"GET"}),
        ("POST", "/trade-api/v2/margin/risk_parameters", {"GET"}),
        ("PATCH", "/trade-api/v2/margin/orders", {"GET", "POST", "DELETE"}),
        ("PUT", "/sim/v1/users", {"POST"}),
    ],
)
def test_wrong_method_is_405_in_the_envelope(
    bare: httpx.Client, method: str, path: str, allowed: set[str]
) -> None:
    response = bare.request(method, path)
    _error(response, 405, "method_not_allowed")
    assert {item.strip() for item in response.headers["allow"].split(",")} == allowed


# ---------------------------------------------------------------- request bodies (REST)


def test_order_with_a_non_json_content_type_is_invalid_content_type(client: httpx.Client) -> None:
    body = json.dumps(ORDER).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx"):
        response = client.post(
            "/margin/orders", content=body, headers={"content-type": content_type}
        )
        _error(response, 400, "invalid_content_type")
    response = client.post("/margin/orders", content=body)  # no Content-Type at all
    _error(response, 400, "invalid_content_type")
    ok = client.post(
        "/margin/orders", content=body, headers={"content-type": "Application/JSON; charset=utf-8"}
    )
    assert ok.status_code == 201
    assert len(_order_ids(client)) == 1


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b'{"ticker": "KXBTCPERP",}',
        b"[]",
        b"null",
        b"\xff\xfe",
        b'{"ticker": "KXBTCPERP"} trailing',
    ],
    ids=["empty", "unclosed", "trailing-comma", "array", "null", "not-utf8", "trailing-text"],
)
def test_malformed_order_json_is_invalid_parameters(client: httpx.Client, content: bytes) -> None:
    response = client.post(
        "/margin/orders", content=content, headers={"content-type": "application/json"}
    )
    _error(response, 400, "invalid_parameters")
    assert _order_ids(client) == []


@pytest.mark.parametrize(
    "change",
    [
        {"count": 1},
        {"price": 1.0},
        {"side": "buy"},
        {"time_in_force": "day"},
        {"post_only": "yes"},
        {"subaccount": -1},
        {"subaccount": "0"},
        {"unexpected_field": 1},
        {"client_order_id": None},
    ],
    ids=lambda change: next(iter(change)),
)
def test_mistyped_order_fields_are_invalid_parameters(
    client: httpx.Client, change: dict[str, object]
) -> None:
    _error(client.post("/margin/orders", json=ORDER | change), 400, "invalid_parameters")
    assert _order_ids(client) == []


@pytest.mark.parametrize("client_id", ["a\x01b", "tab\t", "line\n", "del\x7f", "nbsp\xa0"])
def test_a_client_order_id_with_control_characters_is_refused(
    fresh: Served, client: httpx.Client, client_id: str
) -> None:
    # a SOH could not go into the FIX reports of the order; Kalshi's ids are `[-\w:+=/]*`
    before = fresh.runtime.state_hash()
    error = _error(
        client.post("/margin/orders", json=ORDER | {"client_order_id": client_id}),
        400,
        "invalid_order",
    )
    assert "client_order_id must not contain control" in error["details"]
    assert fresh.runtime.state_hash() == before
    placed = client.post("/margin/orders", json=ORDER)
    assert placed.status_code == 201
    order_id = placed.json()["order_id"]
    before = fresh.runtime.state_hash()
    amend = {
        "ticker": ORDER["ticker"],
        "side": ORDER["side"],
        "price": ORDER["price"],
        "count": "2.00",
        "client_order_id": ORDER["client_order_id"],
        "updated_client_order_id": client_id,
    }
    error = _error(
        client.post(f"/margin/orders/{order_id}/amend", json=amend), 400, "invalid_order"
    )
    assert "client_order_id must not contain control" in error["details"]
    assert fresh.runtime.state_hash() == before


@pytest.mark.parametrize("field", ["client_order_id", "side", "count", "price", "time_in_force"])
def test_missing_required_order_field_is_invalid_parameters(
    client: httpx.Client, field: str
) -> None:
    body = {key: value for key, value in ORDER.items() if key != field}
    _error(client.post("/margin/orders", json=body), 400, "invalid_parameters")
    assert _order_ids(client) == []


def test_oversized_order_body_is_invalid_parameters(client: httpx.Client) -> None:
    padding = " " * (MAX_BODY + 1 - len(json.dumps(ORDER)))
    oversized = (json.dumps(ORDER) + padding).encode()
    assert len(oversized) == MAX_BODY + 1
    response = client.post(
        "/margin/orders", content=oversized, headers={"content-type": "application/json"}
    )
    _error(response, 400, "invalid_parameters")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        yield json.dumps(ORDER).encode()
        for _ in range(MAX_BODY // 65_536 + 1):
            yield b" " * 65_536

    response = client.post(
        "/margin/orders", content=chunks(), headers={"content-type": "application/json"}
    )
    _error(response, 400, "invalid_parameters")
    assert _order_ids(client) == []
    # a body of exactly the cap is read and placed
    exact = (json.dumps(ORDER) + padding[:-1]).encode()
    assert len(exact) == MAX_BODY
    response = client.post(
        "/margin/orders", content=exact, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201
    assert len(_order_ids(client)) == 1


def test_authentication_comes_before_the_body(public: httpx.Client, client: httpx.Client) -> None:
    response = public.post(
        "/margin/orders", content=b"{", headers={"content-type": "application/json"}
    )
    _error(response, 401, "unauthorized")
    assert _order_ids(client) == []


# ---------------------------------------------------------------- request bodies (control plane)


@pytest.mark.parametrize(
    ("content", "content_type", "code"),
    [
        (b'{"balance": "1.0000"}', "text/plain", "invalid_content_type"),
        (b"{", "application/json", "invalid_parameters"),
        (b"", "application/json", "invalid_parameters"),
        (b'{"balance": 5}', "application/json", "invalid_parameters"),
        (b'{"balance": "lots"}', "application/json", "invalid_parameters"),
        (b'{"balance": "-1.0000"}', "application/json", "invalid_parameters"),
        (b'{"balance": "1.0000", "colour": "blue"}', "application/json", "invalid_parameters"),
        (b'{"public_key_pem": "not a key"}', "application/json", "invalid_parameters"),
    ],
    ids=[
        "content-type",
        "malformed",
        "empty",
        "number",
        "not-a-number",
        "negative",
        "unknown-field",
        "bad-key",
    ],
)
def test_bad_control_plane_bodies_are_400(
    fresh: Served, bare: httpx.Client, content: bytes, content_type: str, code: str
) -> None:
    before = _user_count(fresh)
    response = bare.post("/sim/v1/users", content=content, headers={"content-type": content_type})
    _error(response, 400, code)
    assert _user_count(fresh) == before


def test_oversized_control_plane_body_is_400(fresh: Served, bare: httpx.Client) -> None:
    before = _user_count(fresh)
    body = b'{"balance": "1.0000"}' + b" " * MAX_BODY
    response = bare.post(
        "/sim/v1/users", content=body, headers={"content-type": "application/json"}
    )
    _error(response, 400, "invalid_parameters")
    assert _user_count(fresh) == before


def test_control_plane_refuses_a_body_without_content_type(
    fresh: Served, bare: httpx.Client
) -> None:
    before = _user_count(fresh)
    body = {"balance": "1.0000", "public_key_pem": signing.fixed_public_pem(1)}
    response = bare.post("/sim/v1/users", content=json.dumps(body).encode())
    _error(response, 400, "invalid_content_type")
    assert _user_count(fresh) == before


def test_duplicate_user_is_rejected_without_change(fresh: Served, bare: httpx.Client) -> None:
    before = _user_count(fresh)
    key = signing.fixed_public_pem(1)
    body = {"user_id": signing.DEMO_USER_ID, "public_key_pem": key}
    _error(bare.post("/sim/v1/users", json=body), 400, "invalid_parameters")
    body = {"api_key_id": signing.DEMO_KEY_ID, "public_key_pem": key}
    response = bare.post("/sim/v1/users", json=body)
    _error(response, 400, "invalid_parameters")
    assert _user_count(fresh) == before


# ---------------------------------------------------------------- query parameters


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "abc"},
        {"limit": "0"},
        {"limit": "10001"},
        {"limit": "1.5"},
        {"min_ts": "yesterday"},
        {"max_ts": "1e9"},
        {"subaccount": "-1"},
        {"subaccount": "main"},
        {"cursor": "not-a-cursor"},
    ],
    ids=lambda params: "-".join(f"{k}={v}" for k, v in params.items()),
)
def test_invalid_order_list_query_is_invalid_parameters(
    client: httpx.Client, params: dict[str, str]
) -> None:
    _error(client.get("/margin/orders", params=params), 400, "invalid_parameters")


@pytest.mark.parametrize(
    "params",
    [{"min_ts": "abc"}, {"max_ts": "-"}, {"ticker": "KXBTCPERP", "min_ts": "1.5"}],
    ids=["min_ts", "max_ts", "float"],
)
def test_invalid_public_query_is_invalid_parameters(
    public: httpx.Client, params: dict[str, str]
) -> None:
    _error(public.get("/margin/trades", params=params), 400, "invalid_parameters")


@pytest.mark.parametrize("params", [{"after": "abc"}, {"after": "-1"}, {"limit": "0"}])
def test_invalid_control_plane_query_is_invalid_parameters(
    bare: httpx.Client, params: dict[str, str]
) -> None:
    _error(bare.get("/sim/v1/events", params=params), 400, "invalid_parameters")


def test_valid_order_list_query_still_works(client: httpx.Client) -> None:
    response = client.get("/margin/orders", params={"limit": "5", "subaccount": "0"})
    assert response.status_code == 200
    assert response.json() == {"orders": [], "cursor": ""}


def test_clock_advance_is_bounded(fresh: Served) -> None:
    """A huge jump would fire timers for ages: refused with 400, the clock unmoved."""
    before = fresh.control("GET", "/clock").json()["now_ms"]
    for ms in (-1, 7 * 86_400_000 + 1, 99999999999999999999):
        response = fresh.control(
            "POST",
            "/clock/advance",
            content=f'{{"ms": {ms}}}',
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, ms
        assert response.json()["error"]["code"] == "invalid_parameters"
    assert fresh.control("GET", "/clock").json()["now_ms"] == before


def test_clock_advance_to_an_instant_is_bounded_and_takes_one_of_ms_and_to_ms(
    fresh: Served,
) -> None:
    before = fresh.control("GET", "/clock").json()["now_ms"]
    for body in (
        {"to_ms": before - 1},  # the past
        {"to_ms": before + 7 * 86_400_000 + 1},
        {"to_ms": "soon"},
        {"ms": 1_000, "to_ms": before + 1_000},  # both
        {},  # neither
        {"wait": False},
    ):
        response = fresh.control("POST", "/clock/advance", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_parameters"
    past = fresh.control("POST", "/clock/advance", json={"to_ms": before - 1}).json()
    assert (
        past["error"]["message"]
        == f"to_ms {before - 1} is before now ({before}): time only moves on"
    )
    assert fresh.control("GET", "/clock").json()["now_ms"] == before


def _not_utf8(document: Mapping[str, object], field: str) -> bytes:
    """`document` as JSON, with a byte that is not UTF-8 (0xff) inside the string `field`."""
    text = json.dumps(document).encode()
    target = json.dumps({field: document[field]})[1:-1].encode()
    return text.replace(target, target[:-1] + b'\xff"', 1)


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("POST", "/trade-api/v2/margin/orders", _not_utf8(ORDER, "client_order_id")),
        ("POST", "/trade-api/v2/margin/orders", _not_utf8(ORDER, "ticker")),
        ("POST", "/sim/v1/users", _not_utf8({"user_id": "carol", "balance": "1"}, "user_id")),
        ("POST", "/sim/v1/users/demo-user/deposit", _not_utf8({"amount": "1.0000"}, "amount")),
        ("POST", "/sim/v1/faults", _not_utf8({"kind": "pause", "target": "*"}, "target")),
    ],
    ids=["order-client-id", "order-ticker", "user", "deposit", "fault"],
)
def test_bodies_that_are_not_utf8_are_400_and_change_nothing(
    fresh: Served, method: str, path: str, content: bytes
) -> None:
    before = fresh.runtime.state_hash()
    auth = signing.KalshiAuth(signing.DEMO_KEY_ID, signing.demo_private_key())
    with fresh.client(auth, base_url=fresh.base) as signed:
        response = signed.request(
            method, path, content=content, headers={"content-type": "application/json"}
        )
    message = _error(response, 400, "invalid_parameters")["message"]
    assert message == "request body is not valid JSON: it is not UTF-8"
    assert fresh.runtime.state_hash() == before


def test_a_state_import_that_is_not_utf8_is_400_and_changes_nothing(
    fresh: Served, bare: httpx.Client
) -> None:
    before = fresh.runtime.state_hash()
    exported = bare.get("/sim/v1/state").content
    damaged = exported.replace(b'"demo-user"', b'"demo-\xffuser"', 1)
    assert damaged != exported
    response = bare.put(
        "/sim/v1/state", content=damaged, headers={"content-type": "application/json"}
    )
    assert _error(response, 400, "invalid_parameters")["message"] == (
        "the snapshot is not valid JSON"
    )
    assert fresh.runtime.state_hash() == before


DEEP_ARRAY = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
DEEP_ARGS = (
    b'{"format": 1, "scenario": {}, "seed": 1, "now_ms": 0, "state_hash": "x", "commands": '
    b'[[0, "deposit", ' + b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"]]}"
)


@pytest.mark.parametrize("content", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/trade-api/v2/margin/order_groups/{group}/reset"),
        ("PUT", "/trade-api/v2/margin/order_groups/{group}/trigger"),
        ("PUT", "/trade-api/v2/margin/order_groups/{group}/limit"),
        ("POST", "/trade-api/v2/portfolio/margin/subaccounts"),
        ("POST", "/trade-api/v2/margin/orders"),
        ("POST", "/sim/v1/users"),
        ("POST", "/sim/v1/clock/advance"),
        ("PUT", "/sim/v1/state"),
    ],
)
def test_deeply_nested_bodies_are_400_and_change_nothing(
    fresh: Served, client: httpx.Client, method: str, path: str, content: bytes
) -> None:
    group = client.post("/margin/order_groups/create", json={"contracts_limit": 5}).json()
    before = fresh.runtime.state_hash()
    auth = signing.KalshiAuth(signing.DEMO_KEY_ID, signing.demo_private_key())
    with fresh.client(auth, base_url=fresh.base) as signed:
        response = signed.request(
            method,
            path.format(group=group["order_group_id"]),
            content=content,
            headers={"content-type": "application/json"},
        )
    message = _error(response, 400, "invalid_parameters")["message"]
    assert "deeper than 64 levels" in message
    assert fresh.runtime.state_hash() == before


def test_deeply_nested_command_arguments_in_a_state_import_are_400(
    fresh: Served, bare: httpx.Client
) -> None:
    before = fresh.runtime.state_hash()
    response = bare.put(
        "/sim/v1/state", content=DEEP_ARGS, headers={"content-type": "application/json"}
    )
    assert "deeper than 64 levels" in _error(response, 400, "invalid_parameters")["message"]
    assert fresh.runtime.state_hash() == before
