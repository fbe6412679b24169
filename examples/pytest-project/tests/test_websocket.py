"""The margin WebSocket with the `websockets` library, signed like a REST request."""

import json
from urllib.parse import urlsplit

from kalshi_signing import auth_headers, load_key
from websockets.sync.client import connect

BTC = "KXBTCPERP"


def test_an_orderbook_subscription_starts_with_a_snapshot(perps_sim, perps_sim_user):
    key = load_key(perps_sim_user.private_key_path)
    path = urlsplit(perps_sim.ws_url).path  # /trade-api/ws/v2/margin
    headers = auth_headers(perps_sim_user.api_key_id, key, "GET", path)

    with connect(perps_sim.ws_url, additional_headers=headers, open_timeout=10) as ws:
        ws.send(json.dumps({
            "id": 1,
            "cmd": "subscribe",
            "params": {"channels": ["orderbook_delta"], "market_tickers": [BTC]},
        }))  # fmt: skip
        subscribed = json.loads(ws.recv(timeout=10))
        snapshot = json.loads(ws.recv(timeout=10))

    assert (subscribed["type"], subscribed["id"]) == ("subscribed", 1)
    assert snapshot["type"] == "orderbook_snapshot"
    assert snapshot["msg"]["market_ticker"] == BTC
    assert snapshot["msg"]["ask"]  # the market maker's levels
