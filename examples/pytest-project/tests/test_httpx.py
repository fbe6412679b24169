"""Plain httpx with a signing helper (kalshi_signing.py), against the `perps_sim` fixture."""

import httpx
import pytest
from kalshi_signing import KalshiAuth, load_key

from api import BTC  # the client project's own package named `api` (../api)


@pytest.fixture
def client(perps_sim, perps_sim_user):
    auth = KalshiAuth(perps_sim_user.api_key_id, load_key(perps_sim_user.private_key_path))
    with httpx.Client(base_url=perps_sim.rest_url, auth=auth) as client:
        yield client


def test_a_resting_order_is_listed(client):
    created = client.post(
        "/margin/orders",
        json={
            "ticker": BTC,
            "client_order_id": "httpx-1",
            "side": "bid",
            "count": "10",
            "price": "6.0000",  # below the market maker's bids: it rests
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
        },
    )
    resting = client.get("/margin/orders", params={"status": "resting"}).json()["orders"]

    assert created.status_code == 201, created.text
    assert [(o["client_order_id"], o["remaining_count"]) for o in resting] == [("httpx-1", "10.00")]


def test_each_test_starts_from_the_scenario(client, perps_sim):
    # the order of the test above is gone: the plugin resets the simulator between tests
    assert client.get("/margin/orders").json()["orders"] == []
    assert perps_sim.clock()["now"] == "2026-06-15T00:00:00.000Z"  # the scenario's start
    perps_sim.advance(3_600_000)  # an hour of simulated time, at once
    assert perps_sim.clock()["now"] == "2026-06-15T01:00:00.000Z"
