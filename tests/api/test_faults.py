"""Injected faults (`/sim/v1/faults`): REST latency and errors in process, WebSocket drops live.

Each fault shows as the real exchange would show it, leaves state alone where it refuses a
request, never touches `/sim/v1`, decides with the runtime's seed, and goes away on reset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from simulator.server.faults import Faults, FaultSpec
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.api import signing
from tests.api.in_process import in_process_server
from tests.api.live import LiveServer, live_server
from tests.api.served import Served
from tests.api.ws.client import connected

BARE = load_scenario("bare")
ORDERS = "/trade-api/v2/margin/orders"
ORDER = {
    "ticker": "KXBTCPERP",
    "side": "bid",
    "count": "1.00",
    "price": "1.0000",
    "time_in_force": "good_till_canceled",
    "self_trade_prevention_type": "taker_at_cross",
}


@pytest.fixture
def signed(fresh: Served) -> Iterator[httpx.Client]:
    auth = signing.KalshiAuth(signing.DEMO_KEY_ID, signing.demo_private_key())
    with fresh.client(auth, base_url=fresh.base) as client:
        yield client


def _add(server: Served, **spec: Any) -> dict[str, Any]:
    response = server.control("POST", "/faults", json=spec)
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def _order(client: httpx.Client, n: int) -> httpx.Response:
    return client.post(ORDERS, json={**ORDER, "client_order_id": f"fault-{n}"})


def test_add_list_remove_and_clear(fresh: Served) -> None:
    first = _add(fresh, kind="latency", target="GET /trade-api/v2/*", latency_ms=1)
    second = _add(fresh, kind="ws_drop", percent=5)
    assert (first["fault_id"], second["fault_id"]) == ("fault-1", "fault-2")
    assert second == {
        "fault_id": "fault-2",
        "kind": "ws_drop",
        "target": "*",
        "percent": 5,
        "count": None,
        "latency_ms": 0,
        "status": 503,
        "close_code": 1011,
        "gap": 1,
        "channel": None,
        "applied": 0,
    }
    listed = fresh.control("GET", "/faults").json()["faults"]
    assert [f["fault_id"] for f in listed] == ["fault-1", "fault-2"]
    assert fresh.control("DELETE", "/faults/fault-1").json()["fault_id"] == "fault-1"
    missing = fresh.control("DELETE", "/faults/fault-1")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "fault_not_found"
    assert fresh.control("DELETE", "/faults").json() == {"removed": 1}
    assert fresh.control("GET", "/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "error", "status": 404},
        {"kind": "latency"},
        {"kind": "latency", "latency_ms": 60_001},
        {"kind": "error", "target": "POST /sim/v1/reset"},
        {"kind": "error", "target": "orders"},
        {"kind": "error", "percent": 0},
        {"kind": "boom"},
        {"kind": "error", "surprise": 1},
        {"kind": "ws_latency"},
        {"kind": "fix_latency", "latency_ms": 0},
        {"kind": "ws_drop", "channel": "trade"},
    ],
)
def test_bad_faults_are_400(fresh: Served, spec: dict[str, Any]) -> None:
    response = fresh.control("POST", "/faults", json=spec)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_parameters"
    assert fresh.control("GET", "/faults").json() == {"faults": []}


def test_an_error_fault_answers_without_acting(fresh: Served, signed: httpx.Client) -> None:
    _add(fresh, kind="error", target=f"POST {ORDERS}", status=503, count=1)
    before = fresh.runtime.state_hash()
    refused = _order(signed, 1)
    assert refused.status_code == 503
    assert refused.json() == {
        "error": {
            "code": "service_unavailable",
            "message": "service_unavailable",
            "service": "exchange",
        }
    }
    assert fresh.runtime.state_hash() == before
    assert _order(signed, 2).status_code == 201  # count 1: used up and gone
    assert fresh.control("GET", "/faults").json() == {"faults": []}


def test_a_429_fault_has_kalshis_rate_limit_body(fresh: Served, signed: httpx.Client) -> None:
    _add(fresh, kind="error", target="GET /trade-api/v2/margin/*", status=429)
    response = signed.get("/trade-api/v2/margin/balance")
    assert (response.status_code, response.json()) == (429, {"error": "too many requests"})
    assert signed.get("/trade-api/v2/margin/exchange/status").status_code == 429


def test_a_latency_fault_delays_and_still_serves(fresh: Served, signed: httpx.Client) -> None:
    _add(fresh, kind="latency", target="GET /trade-api/v2/margin/balance", latency_ms=20)
    assert signed.get("/trade-api/v2/margin/balance").status_code == 200
    assert signed.get("/trade-api/v2/margin/exchange/status").status_code == 200  # not matched
    (fault,) = fresh.control("GET", "/faults").json()["faults"]
    assert fault["applied"] == 1


def test_the_control_plane_is_never_faulted(fresh: Served) -> None:
    _add(fresh, kind="error", status=500)
    assert fresh.control("GET", "/health").status_code == 200
    assert fresh.control("DELETE", "/faults").json() == {"removed": 1}


def test_reset_drops_every_fault(fresh: Served) -> None:
    _add(fresh, kind="error", status=500)
    assert fresh.control("POST", "/reset").status_code == 200
    assert fresh.control("GET", "/faults").json() == {"faults": []}


def test_a_trading_pause_refuses_orders_until_it_is_removed(
    fresh: Served, signed: httpx.Client
) -> None:
    pause = _add(fresh, kind="pause")
    status = signed.get("/trade-api/v2/margin/exchange/status").json()
    assert status == {"exchange_active": True, "trading_active": False}
    refused = _order(signed, 20)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "trading_is_paused"
    assert fresh.control("DELETE", f"/faults/{pause['fault_id']}").status_code == 200
    assert signed.get("/trade-api/v2/margin/exchange/status").json()["trading_active"] is True
    assert _order(signed, 21).status_code == 201


def test_a_market_pause_halts_that_market_and_clear_lifts_it(
    fresh: Served, signed: httpx.Client
) -> None:
    _add(fresh, kind="pause", target="KXBTCPERP")
    market = signed.get("/trade-api/v2/margin/markets/KXBTCPERP").json()["market"]
    assert (market["status"], market["halt_sources"]) == ("inactive", ["fault"])
    assert _order(signed, 22).status_code == 409
    assert fresh.control("DELETE", "/faults").json() == {"removed": 1}
    market = signed.get("/trade-api/v2/margin/markets/KXBTCPERP").json()["market"]
    assert (market["status"], market["halt_sources"]) == ("active", [])
    assert _order(signed, 23).status_code == 201


def test_a_pause_of_an_unknown_market_is_404_and_holds_nothing(fresh: Served) -> None:
    before = fresh.runtime.state_hash()
    response = fresh.control("POST", "/faults", json={"kind": "pause", "target": "NOPE"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "market_not_found"
    assert fresh.control("GET", "/faults").json() == {"faults": []}
    assert fresh.runtime.state_hash() == before


@pytest.mark.parametrize("extra", [{"percent": 50}, {"count": 1}])
def test_a_pause_takes_no_percent_or_count(fresh: Served, extra: dict[str, int]) -> None:
    response = fresh.control("POST", "/faults", json={"kind": "pause", **extra})
    assert response.status_code == 400


def test_decisions_follow_the_seed(fresh: Served) -> None:
    def pattern(seed: int) -> list[int | None]:
        faults = Faults(seed)
        faults.add(FaultSpec(kind="error", percent=30))
        return [faults.rest("GET", "/trade-api/v2/x").status for _ in range(40)]

    assert pattern(3) == pattern(3)
    assert pattern(3) != pattern(4)
    assert 0 < sum(status is not None for status in pattern(3)) < 40
    with in_process_server(BARE, seed=5) as a, in_process_server(BARE, seed=5) as b:
        for server in (a, b):
            _add(server, kind="error", status=502, percent=50)
        statuses = [
            [s.control("GET", "/faults").status_code]
            + [
                s.client(base_url=s.base).get("/trade-api/v2/margin/exchange/status").status_code
                for _ in range(20)
            ]
            for s in (a, b)
        ]
    assert statuses[0] == statuses[1]
    assert set(statuses[0][1:]) == {200, 502}


def test_a_fault_runtime_seed_is_the_runtimes() -> None:
    runtime = Runtime(BARE, clock_mode="manual", seed=9)
    runtime.faults.add(FaultSpec(kind="error", percent=50))
    other = Faults(9)
    other.add(FaultSpec(kind="error", percent=50))
    mine = [runtime.faults.rest("GET", "/x").status for _ in range(30)]
    assert mine == [other.rest("GET", "/x").status for _ in range(30)]


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with live_server(BARE) as server:
        yield server


def test_a_websocket_drop_closes_the_connection_with_its_code(live: LiveServer) -> None:
    live.control("POST", "/reset").raise_for_status()
    user = live.new_user()

    async def scenario() -> int | None:
        async with connected(live, user) as ws:
            await ws.subscribe("orderbook_delta", market_ticker="KXBTCPERP")
            live.control(
                "POST",
                "/faults",
                json={"kind": "ws_drop", "target": user.user_id, "close_code": 1012},
            )
            auth = signing.KalshiAuth(user.api_key_id, user.key)
            with live.client(auth, base_url=live.base) as client:
                assert _order(client, 9).status_code == 201  # a book change: a frame is due
            try:
                while True:
                    await ws.recv()
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd is not None else None

    assert asyncio.run(scenario()) == 1012
    (fault,) = live.control("GET", "/faults").json()["faults"]
    assert fault["applied"] == 1
