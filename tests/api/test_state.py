"""State export and import: `GET/PUT /sim/v1/state`, `GET /sim/v1/state/hash`.

The bare scenario: KXBTCPERP, KXETHPERP and KXSOLPERP with empty books, a manual clock at
2026-06-15T00:00:00Z and `demo-user` with $10,000.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import make_client
from tests.api.served import Served

START_MS = 1_781_481_600_000


def control(server: Served, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return server.control(method, path, **kwargs)


def state_hash(server: Served) -> str:
    response = control(server, "GET", "/state/hash")
    assert response.status_code == 200
    found: str = response.json()["state_hash"]
    return found


def order(client: httpx.Client, side: str, count: str, cid: str) -> dict[str, Any]:
    response = client.post(
        "/margin/orders",
        json={
            "ticker": "KXBTCPERP",
            "client_order_id": cid,
            "side": side,
            "count": count,
            "price": "6.2590",
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def activity(server: Served, client: httpx.Client) -> httpx.Client:
    """A second user, a deposit, a trade, a reference price and time; returns the user."""
    user = server.new_user("2000.0000")
    other = make_client(server, user.auth)
    deposit = control(server, "POST", f"/users/{user.user_id}/deposit", json={"amount": "500.0000"})
    assert deposit.status_code == 200
    order(client, "ask", "30", "d-1")
    order(other, "bid", "10", "o-1")
    assert control(server, "POST", "/clock/advance", json={"ms": 1_500}).status_code == 200
    price = control(server, "POST", "/markets/KXETHPERP/reference_price", json={"price": "3.5000"})
    assert price.status_code == 200
    return other


def test_export_reset_import_restores_the_same_state(fresh: Served, client: httpx.Client):
    other = activity(fresh, client)
    balance = client.get("/margin/balance").json()
    other_balance = other.get("/margin/balance").json()
    orders = client.get("/margin/orders").json()
    before = state_hash(fresh)
    exported = control(fresh, "GET", "/state")
    assert exported.status_code == 200
    snapshot = exported.json()

    assert control(fresh, "POST", "/reset").status_code == 200
    assert state_hash(fresh) != before
    json_type = {"content-type": "application/json"}
    imported = control(fresh, "PUT", "/state", content=exported.content, headers=json_type)

    assert imported.status_code == 200
    assert imported.json() == {
        "status": "imported",
        "now_ms": START_MS + 1_500,
        "state_hash": before,
    }
    assert snapshot["now_ms"] == START_MS + 1_500
    assert state_hash(fresh) == before
    assert client.get("/margin/balance").json() == balance
    assert other.get("/margin/balance").json() == other_balance  # its key came back too
    assert client.get("/margin/orders").json() == orders
    assert control(fresh, "GET", "/clock").json()["now_ms"] == START_MS + 1_500
    assert control(fresh, "GET", "/state").json() == snapshot
    other.close()


def test_the_snapshot_lists_the_commands(fresh: Served, client: httpx.Client):
    activity(fresh, client).close()

    snapshot = control(fresh, "GET", "/state").json()

    assert snapshot["format"] == "perps-sim/state-v1"
    assert snapshot["scenario"]["name"] == "bare"
    assert (snapshot["seed"], snapshot["created_ms"]) == (1, START_MS)
    assert [command[1] for command in snapshot["commands"]] == [
        "create_user",
        "deposit",
        "place_order",
        "place_order",
        "advance",  # the 1.5 s advance in slices (`simulator.server.advancer`): 1 s, then 0.5 s
        "advance",
        "set_reference_price",
    ]
    assert [command[2] for command in snapshot["commands"][4:6]] == [{"ms": 1_000}, {"ms": 500}]
    assert snapshot["commands"][2][2]["command"]["side"] == "ask"
    assert snapshot["state_hash"] == state_hash(fresh)


def _tamper(snapshot: dict[str, Any]) -> dict[str, Any]:
    snapshot["commands"][1][2]["amount"] += 1
    return snapshot


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"format": "perps-sim/state-v1"}',
        "other-format",
        "tampered",
        "unknown-command",
    ],
)
def test_a_bad_snapshot_is_400_and_changes_nothing(fresh: Served, client: httpx.Client, body: Any):
    activity(fresh, client).close()
    snapshot = control(fresh, "GET", "/state").json()
    if body == "other-format":
        body = {**snapshot, "format": "perps-sim/state-v0"}
    elif body == "tampered":
        body = _tamper(snapshot)
    elif body == "unknown-command":
        body = {**snapshot, "commands": [*snapshot["commands"], [START_MS, "steal", {}]]}
    before = state_hash(fresh)
    generation = fresh.runtime.generation

    if isinstance(body, bytes):
        response = control(
            fresh, "PUT", "/state", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = control(fresh, "PUT", "/state", json=body)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameters" and error["service"] == "exchange"
    assert state_hash(fresh) == before
    assert fresh.runtime.generation == generation


def test_a_snapshot_must_be_sent_as_json(fresh: Served):
    snapshot = control(fresh, "GET", "/state").content

    response = control(
        fresh, "PUT", "/state", content=snapshot, headers={"content-type": "text/plain"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_content_type"
