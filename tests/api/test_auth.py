"""Request signing, `open` auth mode and rate limits, over a real socket (REST.md (a), (b)).

Unlike the other REST tests, this module talks to uvicorn on 127.0.0.1: the raw path that the
signature covers is the one uvicorn reads off the wire.

The signature covers timestamp + METHOD + the raw request path as sent (percent-escapes kept,
query string excluded). Rate-limit tests swap the runtime's limiter for one reading a frozen wall
clock, so bucket refills happen only when a test moves that clock.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulator.core.clock import WallClock
from simulator.server.rate_limits import RateLimiter
from simulator.server.runtime import ServerSettings
from simulator.server.scenarios import load_scenario
from tests.api import signing
from tests.api.conftest import make_client
from tests.api.live import LiveServer, live_server
from tests.api.served import Served

PREFIX = "/trade-api/v2"
ENABLED = f"{PREFIX}/margin/enabled"
UNAUTHORIZED = {"code": "unauthorized", "service": "exchange"}


def _other_key() -> rsa.RSAPrivateKey:
    """A key that is not the demo user's."""
    return signing.fixed_private_key(signing.FIXED_KEYS)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """A real socket for this module (the other REST modules run in process)."""
    with live_server(load_scenario("bare")) as live:
        yield live


def _now_ms() -> int:
    return WallClock().now_ms()


def _demo_headers(method: str, path: str, timestamp_ms: int | None = None) -> dict[str, str]:
    return signing.headers(
        signing.DEMO_KEY_ID, signing.demo_private_key(), method, path, timestamp_ms
    )


def _assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert {key: error[key] for key in UNAUTHORIZED} == UNAUTHORIZED
    assert isinstance(error["message"], str) and error["message"]


@pytest.fixture
def raw(fresh: Served) -> Iterator[httpx.Client]:
    """A client on the server root that sends paths exactly as given, with no credentials."""
    with make_client(fresh) as c:
        c.base_url = httpx.URL(fresh.base)
        yield c


# ---------------------------------------------------------------- signatures


def test_valid_signature_authenticates(raw: httpx.Client) -> None:
    response = raw.get(ENABLED, headers=_demo_headers("GET", ENABLED))
    assert response.status_code == 200
    assert response.json() == {"enabled": True}


def test_signature_with_maximum_salt_length_is_accepted(raw: httpx.Client) -> None:
    ts = _now_ms()
    signature = signing.demo_private_key().sign(
        f"{ts}GET{ENABLED}".encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
        hashes.SHA256(),
    )
    headers = {
        "KALSHI-ACCESS-KEY": signing.DEMO_KEY_ID,
        "KALSHI-ACCESS-TIMESTAMP": str(ts),
        "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode(),
    }
    assert raw.get(ENABLED, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "missing",
    [
        ("KALSHI-ACCESS-KEY", "KALSHI-ACCESS-TIMESTAMP", "KALSHI-ACCESS-SIGNATURE"),
        ("KALSHI-ACCESS-KEY",),
        ("KALSHI-ACCESS-TIMESTAMP",),
        ("KALSHI-ACCESS-SIGNATURE",),
    ],
)
def test_missing_headers_are_401_in_the_envelope(
    raw: httpx.Client, missing: tuple[str, ...]
) -> None:
    headers = _demo_headers("GET", ENABLED)
    for name in missing:
        del headers[name]
    _assert_unauthorized(raw.get(ENABLED, headers=headers))


def test_unknown_key_id_is_401(raw: httpx.Client) -> None:
    headers = signing.headers(
        "00000000-0000-0000-0000-000000000000", signing.demo_private_key(), "GET", ENABLED
    )
    _assert_unauthorized(raw.get(ENABLED, headers=headers))


def test_signature_by_another_private_key_is_401(raw: httpx.Client) -> None:
    headers = signing.headers(signing.DEMO_KEY_ID, _other_key(), "GET", ENABLED)
    _assert_unauthorized(raw.get(ENABLED, headers=headers))


def test_signature_for_another_method_is_401(raw: httpx.Client) -> None:
    _assert_unauthorized(raw.get(ENABLED, headers=_demo_headers("POST", ENABLED)))


@pytest.mark.parametrize("kind", ["flipped", "truncated", "not_base64", "empty_bytes"])
def test_tampered_signature_is_401(raw: httpx.Client, kind: str) -> None:
    headers = _demo_headers("GET", ENABLED)
    good = base64.b64decode(headers["KALSHI-ACCESS-SIGNATURE"])
    bad = {
        "flipped": base64.b64encode(bytes([good[0] ^ 1]) + good[1:]).decode(),
        "truncated": base64.b64encode(good[:-4]).decode(),
        "not_base64": "not*base64!",
        "empty_bytes": "====",
    }[kind]
    headers["KALSHI-ACCESS-SIGNATURE"] = bad
    _assert_unauthorized(raw.get(ENABLED, headers=headers))


@pytest.mark.parametrize("offset_ms", [-31_000, 31_000, -3_600_000, 86_400_000])
def test_timestamp_outside_the_window_is_401(raw: httpx.Client, offset_ms: int) -> None:
    headers = _demo_headers("GET", ENABLED, _now_ms() + offset_ms)
    _assert_unauthorized(raw.get(ENABLED, headers=headers))


@pytest.mark.parametrize("offset_ms", [-20_000, 20_000])
def test_timestamp_inside_the_window_is_accepted(raw: httpx.Client, offset_ms: int) -> None:
    headers = _demo_headers("GET", ENABLED, _now_ms() + offset_ms)
    assert raw.get(ENABLED, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "timestamp", ["soon", "1.7e12", "-1", "+1781481600000", "17814816000000000"]
)
def test_timestamp_that_is_not_epoch_milliseconds_is_401(raw: httpx.Client, timestamp: str) -> None:
    headers = _demo_headers("GET", ENABLED)
    headers["KALSHI-ACCESS-TIMESTAMP"] = timestamp
    _assert_unauthorized(raw.get(ENABLED, headers=headers))


def test_timestamp_is_part_of_the_signed_message(raw: httpx.Client) -> None:
    headers = _demo_headers("GET", ENABLED)
    headers["KALSHI-ACCESS-TIMESTAMP"] = str(int(headers["KALSHI-ACCESS-TIMESTAMP"]) + 1)
    _assert_unauthorized(raw.get(ENABLED, headers=headers))


def test_query_string_is_not_signed(raw: httpx.Client) -> None:
    path = f"{PREFIX}/account/limits/perps"
    ok = raw.get(f"{path}?limit=5", headers=_demo_headers("GET", path))
    assert ok.status_code == 200
    signed_with_query = _demo_headers("GET", f"{path}?limit=5")
    _assert_unauthorized(raw.get(f"{path}?limit=5", headers=signed_with_query))


def test_percent_encoded_path_is_verified_as_sent(raw: httpx.Client) -> None:
    sent = f"{PREFIX}/margin/%65nabled"  # routes to /margin/enabled
    response = raw.get(sent, headers=_demo_headers("GET", sent))
    assert response.status_code == 200
    assert response.json() == {"enabled": True}
    # the decoded path is not what was sent, so a signature over it does not verify
    _assert_unauthorized(raw.get(sent, headers=_demo_headers("GET", ENABLED)))


def test_lowercase_escapes_signed_in_upper_case_are_accepted(raw: httpx.Client) -> None:
    sent = f"{PREFIX}/margin/e%6eabled"
    sdk_signed = f"{PREFIX}/margin/e%6Eabled"  # kalshi-sdk upper-cases escapes before signing
    assert raw.get(sent, headers=_demo_headers("GET", sdk_signed)).status_code == 200
    assert raw.get(sent, headers=_demo_headers("GET", sent)).status_code == 200


def test_escapes_in_a_path_parameter_are_verified_as_sent(raw: httpx.Client) -> None:
    sent = f"{PREFIX}/margin/orders/0000000%41-0000-4000-8000-000000000000"
    decoded = f"{PREFIX}/margin/orders/0000000A-0000-4000-8000-000000000000"
    found = raw.get(sent, headers=_demo_headers("GET", sent))
    assert found.status_code == 404  # authenticated; the order does not exist
    assert found.json()["error"]["code"] != "unauthorized"
    _assert_unauthorized(raw.get(sent, headers=_demo_headers("GET", decoded)))
    # lowercase escape on the wire, upper-cased in the signature (kalshi-sdk's normalisation)
    lower = f"{PREFIX}/margin/orders/0000000a%2d0000-4000-8000-000000000000"
    upper = f"{PREFIX}/margin/orders/0000000a%2D0000-4000-8000-000000000000"
    assert raw.get(lower, headers=_demo_headers("GET", upper)).status_code == 404
    assert raw.get(lower, headers=_demo_headers("GET", lower)).status_code == 404


def test_pkcs1_public_key_registered_through_the_control_plane(fresh: Served) -> None:
    key = _other_key()
    pkcs1 = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode()
    )
    assert pkcs1.startswith("-----BEGIN RSA PUBLIC KEY-----")
    created = fresh.control(
        "POST",
        "/users",
        json={"balance": "250.0000", "public_key_pem": pkcs1, "api_key_id": "pkcs1-key"},
    )
    assert created.status_code == 201
    assert "private_key_pem" not in created.json()
    assert created.json()["api_key_id"] == "pkcs1-key"
    with make_client(fresh, signing.KalshiAuth("pkcs1-key", key)) as c:
        assert c.get("/margin/enabled").json() == {"enabled": True}
    # the demo key does not sign for this key id
    with make_client(fresh, signing.KalshiAuth("pkcs1-key", signing.demo_private_key())) as c:
        _assert_unauthorized(c.get("/margin/enabled"))


def test_user_created_with_a_generated_key_can_sign(fresh: Served) -> None:
    created = fresh.control("POST", "/users", json={"balance": "5.0000"})  # no public key sent
    assert created.status_code == 201
    body = created.json()
    key = signing.load_private_key(body["private_key_pem"])
    with make_client(fresh, signing.KalshiAuth(body["api_key_id"], key)) as c:
        assert c.get("/margin/enabled").status_code == 200
    with make_client(fresh, signing.KalshiAuth(signing.DEMO_KEY_ID, key)) as c:
        _assert_unauthorized(c.get("/margin/enabled"))


@pytest.mark.parametrize(
    "path", ["/margin/exchange/status", "/margin/risk_parameters"], ids=["status", "risk"]
)
def test_public_endpoints_work_with_and_without_a_signature(
    public: httpx.Client, client: httpx.Client, path: str
) -> None:
    unsigned = public.get(path)
    signed = client.get(path)
    assert unsigned.status_code == signed.status_code == 200
    assert unsigned.json() == signed.json()


# ---------------------------------------------------------------- open auth mode


@pytest.fixture(scope="module")
def open_server() -> Iterator[LiveServer]:
    with live_server(load_scenario("bare"), settings=ServerSettings(auth="open")) as live:
        yield live


def test_open_mode_gives_an_unknown_key_its_own_funded_account(open_server: LiveServer) -> None:
    key_id = "bot-7f3a"
    with make_client(open_server) as c:
        first = c.get(
            "/margin/balance",
            params={"compute_available_balance": "true"},
            headers={"KALSHI-ACCESS-KEY": key_id},
        )
        assert first.status_code == 200
        (row,) = first.json()["subaccount_balances"]
        assert row["subaccount"] == 0
        assert row["account_equity"] == row["available_balance"] == "10000.0000"
        # signature headers, if sent, are ignored; the same key is the same account
        again = c.get(
            "/margin/enabled",
            headers={
                "KALSHI-ACCESS-KEY": key_id,
                "KALSHI-ACCESS-TIMESTAMP": "0",
                "KALSHI-ACCESS-SIGNATURE": "ignored",
            },
        )
        assert again.status_code == 200
        other = c.get(
            "/margin/balance",
            params={"compute_available_balance": "true"},
            headers={"KALSHI-ACCESS-KEY": "bot-second"},
        )
        assert other.json() == first.json()
    exchange = open_server.runtime.exchange
    user = exchange.user_for_key(key_id)
    assert user is not None and user.user_id == f"open-{key_id}"
    assert user.subaccounts[0].cash == ServerSettings().open_balance == 10_000_000_000
    assert {"open-bot-7f3a", "open-bot-second"} <= set(exchange.users)


@pytest.mark.parametrize("key_id", ["has space", "-leading-dash", "x" * 129, "semi;colon"])
def test_open_mode_rejects_a_malformed_key_id(open_server: LiveServer, key_id: str) -> None:
    before = set(open_server.runtime.exchange.users)
    with make_client(open_server) as c:
        _assert_unauthorized(c.get("/margin/enabled", headers={"KALSHI-ACCESS-KEY": key_id}))
        _assert_unauthorized(c.get("/margin/enabled"))
    assert set(open_server.runtime.exchange.users) == before


# ---------------------------------------------------------------- rate limits


class FrozenWall(WallClock):
    """A wall clock that moves only when told to."""

    def __init__(self, now_ms: int) -> None:
        self.ms = now_ms

    def now_ms(self) -> int:
        return self.ms


@pytest.fixture
def frozen(fresh: Served) -> Iterator[FrozenWall]:
    """Swap the runtime's rate limiter for one on a frozen wall clock (restored afterwards)."""
    runtime = fresh.runtime
    original = runtime.rate_limiter
    wall = FrozenWall(1_781_481_600_000)
    runtime.rate_limiter = RateLimiter(lambda: runtime.settings.rate_limits, wall_clock=wall)
    try:
        yield wall
    finally:
        runtime.rate_limiter = original


@pytest.fixture
def plain(fresh: Served) -> Iterator[httpx.Client]:
    """Signed as the demo user, without spec validation (most operations declare no 429)."""
    auth = signing.KalshiAuth(signing.DEMO_KEY_ID, signing.demo_private_key())
    with fresh.client(auth) as c:
        yield c


def _limit(server: Served, user_id: str, body: dict[str, object]) -> httpx.Response:
    return server.control("POST", f"/users/{user_id}/rate_limits", json=body)


def test_rate_limits_are_off_by_default(plain: httpx.Client, frozen: FrozenWall) -> None:
    assert all(plain.get("/margin/enabled").status_code == 200 for _ in range(25))


def test_read_bucket_allows_twenty_requests_then_429(
    fresh: Served, plain: httpx.Client, frozen: FrozenWall
) -> None:
    response = _limit(fresh, signing.DEMO_USER_ID, {"enabled": True, "usage_tier": "basic"})
    assert response.json() == {
        "user_id": signing.DEMO_USER_ID,
        "enabled": True,
        "usage_tier": "basic",
    }
    # basic: read bucket of 200 tokens, 10 per request
    statuses = [plain.get("/margin/enabled").status_code for _ in range(20)]
    assert statuses == [200] * 20
    limited = plain.get("/margin/enabled")
    assert limited.status_code == 429
    assert limited.content == b'{"error":"too many requests"}'
    assert limited.json() == {"error": "too many requests"}
    assert "retry-after" not in limited.headers
    assert not any(name.lower().startswith("x-ratelimit") for name in limited.headers)
    # 200 tokens/s: 50 ms of wall time buys exactly one more request
    frozen.ms += 49
    assert plain.get("/margin/enabled").status_code == 429
    frozen.ms += 1
    assert plain.get("/margin/enabled").status_code == 200
    assert plain.get("/margin/enabled").status_code == 429
    # the bucket never holds more than its capacity
    frozen.ms += 60_000
    statuses = [plain.get("/margin/enabled").status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]


def _order(n: int) -> dict[str, object]:
    return {
        "ticker": "KXBTCPERP",
        "client_order_id": f"rl-{n}",
        "side": "bid",
        "count": "1.00",
        "price": "1.0000",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }


def test_write_bucket_allows_twenty_orders_then_429(
    fresh: Served, plain: httpx.Client, frozen: FrozenWall
) -> None:
    assert _limit(fresh, signing.DEMO_USER_ID, {"enabled": True}).status_code == 200
    # basic: write bucket of 200 tokens (two seconds of 100/s), 10 per order
    statuses = [plain.post("/margin/orders", json=_order(n)).status_code for n in range(20)]
    assert statuses == [201] * 20
    limited = plain.post("/margin/orders", json=_order(20))
    assert limited.status_code == 429
    assert limited.json() == {"error": "too many requests"}
    assert "retry-after" not in limited.headers
    # the refused order was never placed; reads have their own bucket
    listed = plain.get("/margin/orders", params={"limit": 100})
    assert listed.status_code == 200
    assert len(listed.json()["orders"]) == 20
    assert "rl-20" not in {order["client_order_id"] for order in listed.json()["orders"]}
    frozen.ms += 100  # 100 tokens/s: one more order
    assert plain.post("/margin/orders", json=_order(21)).status_code == 201
    assert plain.post("/margin/orders", json=_order(22)).status_code == 429


def test_rate_limits_are_per_user(fresh: Served, plain: httpx.Client, frozen: FrozenWall) -> None:
    assert _limit(fresh, signing.DEMO_USER_ID, {"enabled": True}).status_code == 200
    for _ in range(20):
        plain.get("/margin/enabled")
    assert plain.get("/margin/enabled").status_code == 429
    other = fresh.new_user("1.0000").auth
    with make_client(fresh, other) as c:
        assert c.get("/margin/enabled").status_code == 200
    # switching limits off again lifts them at once
    assert _limit(fresh, signing.DEMO_USER_ID, {"enabled": False}).json()["enabled"] is False
    assert plain.get("/margin/enabled").status_code == 200


def test_limits_endpoint_reflects_the_configured_tier(
    fresh: Served, plain: httpx.Client, frozen: FrozenWall
) -> None:
    response = _limit(fresh, signing.DEMO_USER_ID, {"enabled": True, "usage_tier": "premier"})
    assert response.json()["usage_tier"] == "premier"
    assert plain.get("/account/limits/perps").json() == {
        "usage_tier": "premier",
        "read": {"refill_rate": 1000, "bucket_capacity": 1000},
        "write": {"refill_rate": 1000, "bucket_capacity": 2000},
        "grants": [],
    }
    # premier: 1000-token read bucket -> 100 reads; the limits call above was one of them
    statuses = [plain.get("/margin/enabled").status_code for _ in range(100)]
    assert statuses == [200] * 99 + [429]


def test_rate_limit_control_rejects_bad_input(fresh: Served, frozen: FrozenWall) -> None:
    unknown_tier = _limit(fresh, signing.DEMO_USER_ID, {"usage_tier": "platinum"})
    assert unknown_tier.status_code == 400
    assert unknown_tier.json()["error"]["code"] == "invalid_parameters"
    unknown_user = _limit(fresh, "nobody", {"enabled": True})
    assert unknown_user.status_code == 404
    wrong_type = _limit(fresh, signing.DEMO_USER_ID, {"enabled": "yes"})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"]["code"] == "invalid_parameters"
    assert frozen.ms == 1_781_481_600_000
    limiter = fresh.runtime.rate_limiter
    assert limiter.limits(signing.DEMO_USER_ID).tier == "basic"
    assert not limiter.enabled_for(signing.DEMO_USER_ID)
