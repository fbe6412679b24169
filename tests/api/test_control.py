"""The control plane's users, events paging and pinned reference prices, over REST.

The module's server runs the bare scenario (still references, empty books, `demo-user` with
$10,000); the pin and paging tests that need the default scenario's moving feeds or a short
journal start servers of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from simulator.server.scenarios import load_scenario
from tests.api import signing
from tests.api.conftest import make_client
from tests.api.in_process import in_process_server
from tests.api.served import Served

BTC = "KXBTCPERP"
HOUR_MS = 3_600_000
IMPACT_ORDER = {  # a resting bid of $10,001.88, past the default $5,000 per-market limit
    "ticker": BTC,
    "client_order_id": "impact-1",
    "side": "bid",
    "count": "1598",
    "price": "6.2590",
    "time_in_force": "good_till_canceled",
    "self_trade_prevention_type": "taker_at_cross",
}


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _refused(response: httpx.Response, code: str = "invalid_parameters") -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def _users(server: Served) -> int:
    return len(server.runtime.exchange.users)


def _state_hash(server: Served) -> str:
    found: str = _ok(server.control("GET", "/state/hash"))["state_hash"]
    return found


def _reference(server: Served, ticker: str = BTC) -> str:
    with server.client() as public:
        market = _ok(public.get(f"/margin/markets/{ticker}"))["market"]
    price: str = market["reference_price"]["price"]
    return price


def _advance(server: Served, ms: int) -> None:
    _ok(server.control("POST", "/clock/advance", json={"ms": ms}))


def _set_price(server: Served, price: str, **fields: Any) -> dict[str, Any]:
    body = {"price": price, **fields}
    return _ok(server.control("POST", f"/markets/{BTC}/reference_price", json=body))


# ------------------------------------------------------------------------------ users


def test_a_notional_limit_lets_the_impact_notional_through(fresh: Served) -> None:
    capped = fresh.new_user("50000")
    with make_client(fresh, capped.auth) as client:
        _refused(client.post("/margin/orders", json=IMPACT_ORDER), "NOTIONAL_RISK_LIMIT_EXCEEDED")

    trader = fresh.new_user("50000", notional_limit="20000")
    with make_client(fresh, trader.auth) as client:
        order = _ok(client.post("/margin/orders", json=IMPACT_ORDER), 201)
        limits = _ok(client.get("/margin/notional_risk_limit"))

    resting = fresh.runtime.exchange.orders[order["order_id"]]
    assert (resting.remaining, resting.price) == (159_800, 62_590)
    assert limits["notional_value_risk_limits_by_market_ticker"][BTC] == "20000.0000"


@pytest.mark.parametrize("limit", ["abc", "0", "-5", "1.0000001", 20000])
def test_a_bad_notional_limit_is_refused_without_change(fresh: Served, limit: object) -> None:
    before, digest = _users(fresh), _state_hash(fresh)
    body = {"notional_limit": limit, "public_key_pem": signing.fixed_public_pem(1)}
    _refused(fresh.control("POST", "/users", json=body))
    assert (_users(fresh), _state_hash(fresh)) == (before, digest)


def test_a_usage_tier_sets_the_users_rate_limits(fresh: Served) -> None:
    trader = fresh.new_user(usage_tier="premier")
    with make_client(fresh, trader.auth) as client:
        limits = _ok(client.get("/account/limits/perps"))
    assert limits["usage_tier"] == "premier"
    assert limits["write"] == {"refill_rate": 1000, "bucket_capacity": 2000}


def test_an_unknown_usage_tier_is_refused_without_a_user(fresh: Served) -> None:
    before = _users(fresh)
    body = {"usage_tier": "gold", "public_key_pem": signing.fixed_public_pem(1)}
    response = fresh.control("POST", "/users", json=body)
    _refused(response)
    assert "prime" in response.json()["error"]["message"]
    assert _users(fresh) == before


def test_chosen_ids_are_kept_and_sign(fresh: Served) -> None:
    trader = fresh.new_user("750", user_id="alice", api_key_id="alice-key-1")
    assert (trader.user_id, trader.api_key_id) == ("alice", "alice-key-1")
    with make_client(fresh, trader.auth) as client:
        balance = _ok(client.get("/margin/balance"))
    assert balance["subaccount_balances"][0]["account_equity"] == "750.0000"


def test_an_object_with_no_fields_is_a_user_with_every_default(fresh: Served) -> None:
    created = _ok(fresh.control("POST", "/users", json={}), 201)
    assert created["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    user = fresh.runtime.exchange.users[created["user_id"]]
    assert (user.subaccounts[0].cash, user.notional_limit_overrides) == (0, {})
    assert fresh.runtime.rate_limiter.limits(user.user_id).tier == "basic"


def test_the_user_fields_survive_a_state_export_and_import(fresh: Served) -> None:
    trader = fresh.new_user("50000", notional_limit="20000")
    snapshot = _ok(fresh.control("GET", "/state"))
    _ok(fresh.control("POST", "/reset"))
    _ok(fresh.control("PUT", "/state", json=snapshot))
    with make_client(fresh, trader.auth) as client:
        _ok(client.post("/margin/orders", json=IMPACT_ORDER), 201)


# ----------------------------------------------------------------------------- events


def test_events_page_from_the_first_retained_seq(fresh: Served) -> None:
    first = _ok(fresh.control("GET", "/events", params={"limit": 1}))
    assert (first["first_seq"], first["truncated"]) == (1, False)
    _ok(fresh.control("POST", f"/users/{signing.DEMO_USER_ID}/deposit", json={"amount": "5"}))
    page = _ok(fresh.control("GET", "/events", params={"after": first["last_seq"]}))
    assert [event["event"]["type"] for event in page["events"]] == ["BalanceChanged"]
    assert page["events"][0]["seq"] == page["last_seq"] == first["last_seq"] + 1
    assert page["truncated"] is False


@pytest.fixture
def short_journal() -> Iterator[Served]:
    """A bare server that keeps only the newest 4 events."""
    scenario = msgspec.structs.replace(load_scenario("bare"), config={"journal_retain": 4})
    with in_process_server(scenario) as served:
        for _ in range(12):
            deposit = {"amount": "1"}
            _ok(served.control("POST", f"/users/{signing.DEMO_USER_ID}/deposit", json=deposit))
        yield served


def test_events_say_when_the_ones_asked_for_were_dropped(short_journal: Served) -> None:
    page = _ok(short_journal.control("GET", "/events", params={"after": 0}))

    assert page["truncated"] is True
    assert page["first_seq"] > 1
    assert [event["seq"] for event in page["events"]] == list(
        range(page["first_seq"], page["last_seq"] + 1)
    )


def test_paging_from_the_first_retained_seq_misses_nothing(short_journal: Served) -> None:
    first = _ok(short_journal.control("GET", "/events", params={"limit": 1}))["first_seq"]
    seen: list[int] = []
    after = first - 1
    while True:
        query = {"after": after, "limit": 2}
        page = _ok(short_journal.control("GET", "/events", params=query))
        assert page["truncated"] is False
        if not page["events"]:
            break
        seen += [event["seq"] for event in page["events"]]
        after = seen[-1]
    assert seen == list(range(first, page["last_seq"] + 1))
    assert len(seen) >= 4


# ------------------------------------------------------------------------------ pins


def test_bare_references_stay_where_they_are_set(fresh: Served) -> None:
    _advance(fresh, HOUR_MS)
    assert _reference(fresh) == "6.2590"
    assert _set_price(fresh, "6.3000")["pinned"] is False
    _advance(fresh, HOUR_MS)
    assert _reference(fresh) == "6.3000"


def test_a_bad_pin_is_refused_without_change(fresh: Served) -> None:
    digest = _state_hash(fresh)
    body = {"price": "6.3000", "pin": "yes"}
    _refused(fresh.control("POST", f"/markets/{BTC}/reference_price", json=body))
    assert _state_hash(fresh) == digest
    assert _reference(fresh) == "6.2590"


@pytest.fixture(scope="module")
def walking() -> Iterator[Served]:
    """The default scenario: random-walk references and the house market maker."""
    with in_process_server(load_scenario("default")) as served:
        yield served


def test_default_references_walk_away_from_an_unpinned_price(walking: Served) -> None:
    _ok(walking.control("POST", "/reset"))
    _set_price(walking, "6.3000")
    _advance(walking, HOUR_MS)
    assert _reference(walking) != "6.3000"


def test_a_pinned_default_reference_stays_until_released(walking: Served) -> None:
    _ok(walking.control("POST", "/reset"))
    assert _set_price(walking, "6.3000", pin=True)["pinned"] is True
    _advance(walking, HOUR_MS)
    assert _reference(walking) == "6.3000"
    assert _set_price(walking, "6.3100")["pinned"] is True  # a new price keeps the pin
    _advance(walking, HOUR_MS)
    assert _reference(walking) == "6.3100"
    assert _reference(walking, "KXETHPERP") != "3.4120"  # only that market is pinned

    assert _set_price(walking, "6.3100", pin=False)["pinned"] is False
    _advance(walking, 60_000)
    assert _reference(walking) != "6.3100"


def test_a_reset_releases_the_pin(walking: Served) -> None:
    _ok(walking.control("POST", "/reset"))
    _set_price(walking, "6.3000", pin=True)
    _ok(walking.control("POST", "/reset"))
    _advance(walking, HOUR_MS)
    assert _reference(walking) not in ("6.3000", "6.2590")
