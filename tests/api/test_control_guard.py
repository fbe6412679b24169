"""Who may use the control plane: token, Host, Origin and content type (`api.control_guard`).

Each refusal is Kalshi's envelope, comes before the handler, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulator.core.errors import LimitExceededError
from simulator.server.listeners import is_loopback_host
from simulator.server.runtime import Runtime, ServerSettings
from simulator.server.scenarios import load_scenario
from tests.api.in_process import in_process_server
from tests.api.served import Served

BARE = load_scenario("bare")
DEPOSIT = "/sim/v1/users/demo-user/deposit"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def guarded() -> Iterator[Served]:
    settings = ServerSettings(control_token=TOKEN, allowed_hosts=("perps-sim",))
    with in_process_server(BARE, settings=settings) as served:
        yield served


@pytest.fixture
def plain(fresh: Served) -> Iterator[httpx.Client]:
    with fresh.client(base_url=fresh.base) as client:
        yield client


def _balance(server: Served) -> int:
    return server.runtime.exchange.users["demo-user"].subaccounts[0].cash


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", b"amount=1000"),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--"),
        ("text/plain", b'{"amount": "1000.0000"}'),
        (None, b'{"amount": "1000.0000"}'),
    ],
)
def test_a_write_that_a_web_form_could_send_is_refused(
    fresh: Served, plain: httpx.Client, content_type: str | None, content: bytes
) -> None:
    before = _balance(fresh)
    headers = {} if content_type is None else {"content-type": content_type}
    _refused(plain.post(DEPOSIT, content=content, headers=headers), 400, "invalid_content_type")
    _refused(
        plain.post("/sim/v1/reset", content=content, headers=headers), 400, "invalid_content_type"
    )
    assert _balance(fresh) == before


def test_a_json_write_and_a_bodiless_one_are_accepted(fresh: Served, plain: httpx.Client) -> None:
    before = _balance(fresh)
    assert plain.post(DEPOSIT, json={"amount": "1.0000"}).status_code == 200
    assert _balance(fresh) > before
    assert plain.post("/sim/v1/reset").status_code == 200
    assert _balance(fresh) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:8000"},  # another port is another origin
        {"origin": "https://127.0.0.1:9"},  # and another scheme
        {"sec-fetch-site": "cross-site"},
    ],
    ids=["foreign", "null", "port", "scheme", "fetch-metadata"],
)
def test_cross_origin_requests_are_403(
    fresh: Served, plain: httpx.Client, headers: dict[str, str]
) -> None:
    before = _balance(fresh)
    _refused(
        plain.post(DEPOSIT, json={"amount": "1.0000"}, headers=headers), 403, "forbidden_origin"
    )
    _refused(plain.get("/sim/v1/state", headers=headers), 403, "forbidden_origin")
    assert _balance(fresh) == before


def test_a_same_origin_request_is_served(fresh: Served, plain: httpx.Client) -> None:
    headers = {"origin": "http://127.0.0.1:9", "sec-fetch-site": "same-origin"}
    assert plain.post(DEPOSIT, json={"amount": "1.0000"}, headers=headers).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:9", "10.0.0.5:8000", "[fe80::1]"])
def test_a_foreign_host_header_is_403(fresh: Served, plain: httpx.Client, host: str) -> None:
    before = _balance(fresh)
    response = plain.post(DEPOSIT, json={"amount": "1.0000"}, headers={"host": host})
    _refused(response, 403, "forbidden_host")
    _refused(plain.get("/sim/v1/health", headers={"host": host}), 403, "forbidden_host")
    assert _balance(fresh) == before


@pytest.mark.parametrize(
    "host", ["localhost:8000", "127.0.0.1", "127.1.2.3:80", "[::1]:9", "a.localhost"]
)
def test_loopback_host_headers_are_served(plain: httpx.Client, host: str) -> None:
    assert plain.get("/sim/v1/clock", headers={"host": host}).status_code == 200


def test_the_trading_api_is_not_guarded(plain: httpx.Client) -> None:
    headers = {"host": "evil.example", "origin": "http://evil.example"}
    assert plain.get("/trade-api/v2/margin/exchange/status", headers=headers).status_code == 200


def test_a_control_token_is_required_except_for_health(guarded: Served) -> None:
    with guarded.client(base_url=guarded.base) as client:
        _refused(client.get("/sim/v1/clock"), 401, "unauthorized")
        wrong = {"authorization": "Bearer nope"}
        _refused(client.post("/sim/v1/reset", headers=wrong), 401, "unauthorized")
        assert client.get("/sim/v1/health").status_code == 200
        good = {"authorization": f"Bearer {TOKEN}"}
        assert client.get("/sim/v1/clock", headers=good).status_code == 200
        named = {**good, "host": "perps-sim:8000"}  # an allowed host beside loopback
        assert client.get("/sim/v1/clock", headers=named).status_code == 200
        _refused(
            client.get("/sim/v1/clock", headers={**good, "host": "other"}), 403, "forbidden_host"
        )


def test_any_host_with_a_star() -> None:
    settings = ServerSettings(allowed_hosts=("*",))
    with (
        in_process_server(BARE, settings=settings) as served,
        served.client(base_url=served.base) as client,
    ):
        assert client.get("/sim/v1/clock", headers={"host": "anything:1"}).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("x.localhost", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("localhost.evil", False),
        ("0.0.0.0", False),
        ("128.0.0.1", False),
    ],
)
def test_loopback_names(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_open_auth_creates_at_most_its_cap_of_accounts() -> None:
    runtime = Runtime(
        BARE, clock_mode="manual", settings=ServerSettings(auth="open", open_max_accounts=2)
    )
    first = runtime.open_user("key-one")
    runtime.open_user("key-two")
    assert runtime.open_user("key-one") is first  # known keys still work
    users = len(runtime.exchange.users)
    with pytest.raises(LimitExceededError, match="2 accounts"):
        runtime.open_user("key-three")
    assert len(runtime.exchange.users) == users


def test_open_auth_beyond_the_cap_is_401() -> None:
    settings = ServerSettings(auth="open", open_max_accounts=1)
    with (
        in_process_server(BARE, settings=settings) as served,
        served.client(base_url=served.base) as client,
    ):
        first = client.get("/trade-api/v2/margin/balance", headers={"KALSHI-ACCESS-KEY": "abc-1"})
        assert first.status_code == 200, first.text
        second = client.get("/trade-api/v2/margin/balance", headers={"KALSHI-ACCESS-KEY": "abc-2"})
        _refused(second, 401, "unauthorized")
        assert "1 accounts" in second.json()["error"]["message"]
